//! The Identity provider tab: the IdP dropdown (which also picks the tenant's
//! quirk profile), the exact setup steps for that IdP, and the attribute mapping.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};

use super::tenants::tenant_frame;
use super::{Admin, blocking, copy_button, csrf_input, page, redirect};
use crate::directory::{Directory, DirectoryError};

/// The dropdown: profile value and label.
pub const CHOICES: &[(&str, &str)] = &[
    ("okta", "Okta"),
    ("entra", "Microsoft Entra ID"),
    ("jumpcloud", "JumpCloud"),
    ("onelogin", "OneLogin"),
    ("generic", "Other"),
    ("auto", "Detect automatically"),
];

/// The label of a profile value.
pub fn label(idp: &str) -> &'static str {
    CHOICES
        .iter()
        .find(|(v, _)| *v == idp)
        .map(|(_, l)| *l)
        .unwrap_or("Other")
}

/// Routes of the tab.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/tenants/{slug}/idp", web::get().to(tab))
        .route("/tenants/{slug}/idp", web::post().to(save));
}

/// One row of the attribute mapping: SCIM attribute, then Okta, JumpCloud,
/// Entra and OneLogin names, then what Roster shows.
const MAPPING: &[[&str; 6]] = &[
    [
        "userName",
        "userName",
        "username",
        "userPrincipalName",
        "Email / username",
        "Username",
    ],
    [
        "name.givenName",
        "firstName",
        "firstname",
        "givenName",
        "First name",
        "First Name",
    ],
    [
        "name.familyName",
        "lastName",
        "lastname",
        "surname",
        "Last name",
        "Last Name",
    ],
    [
        "emails[type eq \"work\"].value",
        "email",
        "email",
        "mail",
        "Email",
        "Email",
    ],
    [
        "phoneNumbers[type eq \"mobile\"].value",
        "mobilePhone",
        "mobile",
        "mobile",
        "Phone",
        "Mobile Number",
    ],
    [
        "phoneNumbers[type eq \"work\"].value",
        "-",
        "phone",
        "telephoneNumber",
        "-",
        "Work Number",
    ],
    [
        "title", "title", "jobTitle", "jobTitle", "Title", "Position",
    ],
    [
        "addresses[type eq \"work\"].streetAddress",
        "streetAddress",
        "address.streetAddress",
        "streetAddress",
        "-",
        "Street Address",
    ],
    [
        "addresses[type eq \"work\"].locality",
        "city",
        "address.locality",
        "city",
        "-",
        "City",
    ],
    [
        "addresses[type eq \"work\"].region",
        "state",
        "address.region",
        "state",
        "-",
        "State",
    ],
    [
        "addresses[type eq \"work\"].postalCode",
        "zipCode",
        "address.postalCode",
        "postalCode",
        "-",
        "Postal Code",
    ],
    [
        "addresses[type eq \"work\"].country",
        "countryCode",
        "address.country",
        "country",
        "-",
        "Country",
    ],
    [
        "active",
        "active",
        "activated",
        "accountEnabled (Switch on IsSoftDeleted)",
        "Status",
        "Status",
    ],
    ["externalId", "id", "id", "objectId", "id", "External ID"],
];

fn column(idp: &str) -> Option<usize> {
    match idp {
        "okta" => Some(1),
        "jumpcloud" => Some(2),
        "entra" => Some(3),
        "onelogin" => Some(4),
        _ => None,
    }
}

fn steps(idp: &str, endpoint: &str) -> Markup {
    let base = html! {
        div.inline {
            input type="text" readonly value=(endpoint) aria-label="SCIM API Endpoint";
            (copy_button(endpoint, "Copy SCIM API Endpoint"))
        }
    };
    match idp {
        "okta" => html! {
            ol.steps {
                li { "In Okta, open your app integration, " b { "General" } " tab: under Provisioning select " b { "SCIM" } ", then Save." }
                li { "Open the " b { "Provisioning" } " tab → " b { "Integration" } " → Edit, and enter:"
                    ul {
                        li { b { "SCIM connector base URL" } ": " (base) }
                        li { b { "Unique identifier field for users" } ": " code { "userName" } }
                        li { b { "Supported provisioning actions" } ": Import New Users and Profile Updates, Push New Users, Push Profile Updates, Push Groups" }
                        li { b { "Authentication Mode" } ": HTTP Header; " b { "Authorization" } ": the bearer token from the SCIM tab" }
                    }
                }
                li { "Click " b { "Test Connector Configuration" } ": Create Users, Update User Attributes, Deactivate Users, Push Groups and Import Users should all succeed, then Save." }
                li { b { "To App" } " → Edit: enable Create Users, Update User Attributes and Deactivate Users. Okta deactivates users (active=false); it never deletes them." }
                li { "Assign users and push groups. Check this tenant's " b { "Provisioning log" } " for each request." }
            }
        },
        "entra" => html! {
            ol.steps {
                li { "In the Microsoft Entra admin center: Enterprise applications → your app → " b { "Provisioning" } " → Get started; set " b { "Provisioning Mode" } " to Automatic." }
                li { "Under Admin Credentials enter:"
                    ul {
                        li { b { "Tenant URL" } ": " (base) }
                        li { b { "Secret Token" } ": the bearer token from the SCIM tab" }
                    }
                }
                li { "Click " b { "Test Connection" } ": Entra queries a user that does not exist and expects an empty result; Roster answers 200 with totalResults 0." }
                li { "Under " b { "Mappings" } ", keep " code { "userPrincipalName → userName" } " with matching precedence 1; map the attributes below." }
                li { "Set Provisioning Status to On and Save. Unassigning a user sends active=False (deactivation)." }
            }
        },
        "jumpcloud" => html! {
            ol.steps {
                li { "In the JumpCloud admin portal: SSO Applications → your app → " b { "Identity Management" } "; choose SCIM 2.0." }
                li { "Enter:"
                    ul {
                        li { b { "Base URL" } ": " (base) }
                        li { b { "Token Key" } ": the bearer token from the SCIM tab" }
                        li { b { "Test User Email" } ": an address that may be created and removed" }
                    }
                }
                li { "Click " b { "Test Connection" } ": JumpCloud creates a test user and group and deletes them again; both appear in the Provisioning log." }
                li { "Activate and bind user groups. Membership changes arrive as PATCH members with a value list." }
            }
        },
        "onelogin" => html! {
            ol.steps {
                li { "In OneLogin: Applications → Add App → " b { "SCIM Provisioner with SAML (SCIM v2 Core)" } "." }
                li { "On the Configuration tab enter:"
                    ul {
                        li { b { "SCIM Base URL" } ": " (base) }
                        li { b { "SCIM Bearer Token" } ": the bearer token from the SCIM tab" }
                        li { b { "SCIM JSON Template" } ": keep " code { "userName" } "; extension URNs in the template are stored as sent under this profile" }
                    }
                }
                li { "Click " b { "Enable" } " under API Status, then on the Provisioning tab enable provisioning and Save." }
                li { "Group membership is pushed with PATCH; watch the Provisioning log while assigning users." }
            }
        },
        _ => html! {
            ol.steps {
                li { "Configure your SCIM 2.0 client with:"
                    ul {
                        li { b { "SCIM base URL" } ": " (base) }
                        li { b { "Authentication" } ": the bearer token from the SCIM tab, or HTTP Basic with the Client ID and Secret Key" }
                        li { b { "Unique identifier" } ": " code { "userName" } }
                    }
                }
                li { "Discovery lives at " code { "/ServiceProviderConfig" } ", " code { "/Schemas" } " and " code { "/ResourceTypes" } "." }
                li { "Supported: Users and Groups (create, read, replace, PATCH, delete as deactivation), filters, sorting, paging, Bulk and ETags." }
                @if idp == "auto" {
                    li { "Under " b { "Detect automatically" } " Roster recognises Okta, Microsoft Entra ID, JumpCloud and OneLogin by their requests and notes its guess in the Provisioning log." }
                }
            }
        },
    }
}

fn tab_page(
    admin: &Admin,
    tenant: &crate::directory::TenantRecord,
    endpoint: &str,
    notice: Option<&str>,
) -> Markup {
    let highlight = column(tenant.idp.as_str());
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        section.card {
            h2 { "Identity provider" }
            form method="post" action=(format!("/admin/tenants/{}/idp", tenant.slug)) {
                (csrf_input(admin))
                div.field {
                    label for="idp" { "Your identity provider" }
                    div.inline {
                        select id="idp" name="idp" {
                            @for (value, text) in CHOICES {
                                option value=(value) selected[*value == tenant.idp.as_str()] { (text) }
                            }
                        }
                        @if admin.may(&format!("/admin/tenants/{}/idp", tenant.slug)) {
                            button.primary type="submit" { "Save" }
                        }
                    }
                    p.hint { "Also selects how Roster reads this IdP's requests (its quirk profile)." }
                }
            }
        }
        section.card {
            h2 { "Set up " (label(tenant.idp.as_str())) }
            (steps(tenant.idp.as_str(), endpoint))
        }
        section.card {
            h2 { "Attribute mapping" }
            div.scroll {
                table.data.mapping {
                    thead {
                        tr {
                            @for (i, h) in ["SCIM 2.0 attribute", "Okta", "JumpCloud", "Microsoft Entra ID", "OneLogin", "Roster field"].iter().enumerate() {
                                th class=[(Some(i) == highlight).then_some("current")] { (h) }
                            }
                        }
                    }
                    tbody {
                        @for row in MAPPING {
                            tr {
                                @for (i, cell) in row.iter().enumerate() {
                                    td class=[(Some(i) == highlight).then_some("current")] {
                                        @if i == 0 { code { (cell) } } @else { (cell) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    tenant_frame(admin, tenant, "idp", body)
}

async fn tab(admin: Admin, dir: web::Data<Directory>, path: web::Path<String>) -> HttpResponse {
    let slug = path.into_inner();
    let d = dir.clone();
    let s = slug.clone();
    match blocking(move || d.tenant(&s)).await {
        Ok(tenant) => page(
            StatusCode::OK,
            tab_page(&admin, &tenant, &dir.scim_endpoint(&slug), None),
        ),
        Err(resp) => resp,
    }
}

async fn save(
    admin: Admin,
    dir: web::Data<Directory>,
    path: web::Path<String>,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    if let Err(resp) = admin.check_csrf(form.get("csrf").map(String::as_str).unwrap_or("")) {
        return resp;
    }
    let slug = path.into_inner();
    let idp = form.get("idp").cloned().unwrap_or_default();
    let (s, actor) = (slug.clone(), admin.actor());
    match blocking(move || {
        let idp = idp.parse().map_err(DirectoryError::Invalid)?;
        dir.update_tenant_settings(&s, Some(idp), None, None, &actor)
    })
    .await
    {
        Ok(_) => redirect(&format!("/admin/tenants/{slug}/idp")),
        Err(resp) => resp,
    }
}
