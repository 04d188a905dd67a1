//! IdP profiles: which identity provider a tenant's SCIM client is, how it is
//! recognised under the "auto" setting, and every leniency rule that follows.
//! The stored setting is `IdpSetting`; the profile it selects is decided here.

use crate::store::records::IdpSetting;

/// The IdP a request is treated as coming from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdpProfile {
    /// Okta.
    Okta,
    /// Microsoft Entra ID.
    Entra,
    /// JumpCloud.
    JumpCloud,
    /// OneLogin.
    OneLogin,
    /// Any RFC 7644 client.
    Generic,
}

impl IdpProfile {
    /// The setting's name, as the CLI and the store spell it.
    pub fn name(self) -> &'static str {
        match self {
            IdpProfile::Okta => "okta",
            IdpProfile::Entra => "entra",
            IdpProfile::JumpCloud => "jumpcloud",
            IdpProfile::OneLogin => "onelogin",
            IdpProfile::Generic => "generic",
        }
    }

    /// A tenant's fixed profile; `None` for "auto" (detected per request).
    /// An unknown stored value is treated as generic.
    pub fn of_setting(setting: IdpSetting) -> Option<IdpProfile> {
        match setting {
            IdpSetting::Auto => None,
            IdpSetting::Okta => Some(IdpProfile::Okta),
            IdpSetting::Entra => Some(IdpProfile::Entra),
            IdpSetting::JumpCloud => Some(IdpProfile::JumpCloud),
            IdpSetting::OneLogin => Some(IdpProfile::OneLogin),
            IdpSetting::Generic => Some(IdpProfile::Generic),
        }
    }

    /// Guesses the IdP from a request's User-Agent and query string.
    pub fn detect(user_agent: &str, query: &str) -> IdpProfile {
        let agent = user_agent.to_ascii_lowercase();
        let query = query.to_ascii_lowercase();
        if agent.contains("okta") {
            IdpProfile::Okta
        } else if query.contains("aadoptscim062020")
            || agent.contains("azure")
            || agent.contains("microsoft")
        {
            IdpProfile::Entra
        } else if agent.contains("jumpcloud") {
            IdpProfile::JumpCloud
        } else if agent.contains("onelogin") {
            IdpProfile::OneLogin
        } else {
            IdpProfile::Generic
        }
    }

    /// OneLogin templates and the Entra validator carry arbitrary extension
    /// URNs: they are kept as given instead of refused.
    pub fn keeps_unknown_extensions(self) -> bool {
        matches!(self, IdpProfile::OneLogin | IdpProfile::Entra)
    }

    /// Entra expects 204 from a group PATCH that asks for no attributes.
    pub fn wants_no_content_from_group_patch(self) -> bool {
        self == IdpProfile::Entra
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_detection() {
        assert_eq!(IdpProfile::of_setting(IdpSetting::Auto), None);
        assert_eq!(
            IdpProfile::of_setting(IdpSetting::Entra),
            Some(IdpProfile::Entra)
        );
        for p in [
            IdpProfile::Okta,
            IdpProfile::Entra,
            IdpProfile::JumpCloud,
            IdpProfile::OneLogin,
            IdpProfile::Generic,
        ] {
            let setting: IdpSetting = p.name().parse().unwrap();
            assert_eq!(IdpProfile::of_setting(setting), Some(p));
        }
        assert_eq!(
            IdpProfile::detect("Okta SCIM Client 1.0.0", ""),
            IdpProfile::Okta
        );
        assert_eq!(
            IdpProfile::detect("", "aadOptscim062020"),
            IdpProfile::Entra
        );
        assert_eq!(IdpProfile::detect("curl/8", ""), IdpProfile::Generic);
    }
}
