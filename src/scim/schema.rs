//! Schema definitions (RFC 7643 §4, §7, §8.7): User, EnterpriseUser, Group, and
//! custom extensions registered per tenant. The same definitions drive
//! validation, attribute-name resolution, filters (`caseExact`), projection
//! (`returned`) and the `/Schemas` documents, so what is advertised is what is
//! enforced.

use serde_json::{Map, Value, json};

use super::error::ScimError;

/// Core User schema URN.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// Core Group schema URN.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// Enterprise User extension URN.
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// ListResponse message URN.
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// SearchRequest message URN.
pub const SEARCH_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// Schema (meta-schema) URN.
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// ResourceType URN.
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// SCIM attribute data types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    /// Text.
    String,
    /// true/false.
    Boolean,
    /// Real number.
    Decimal,
    /// Whole number.
    Integer,
    /// xsd:dateTime.
    DateTime,
    /// base64 binary.
    Binary,
    /// URI reference.
    Reference,
    /// Has sub-attributes.
    Complex,
}

impl AttrType {
    /// The RFC 7643 name.
    pub fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }

    fn parse(name: &str) -> Option<AttrType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "string" => AttrType::String,
            "boolean" => AttrType::Boolean,
            "decimal" => AttrType::Decimal,
            "integer" => AttrType::Integer,
            "datetime" => AttrType::DateTime,
            "binary" => AttrType::Binary,
            "reference" => AttrType::Reference,
            "complex" => AttrType::Complex,
            _ => return None,
        })
    }
}

/// Who may write an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// Set by the server only.
    ReadOnly,
    /// Clients may change it.
    ReadWrite,
    /// Set once, never changed.
    Immutable,
    /// Accepted, never returned.
    WriteOnly,
}

/// When an attribute is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// Always, even if excluded.
    Always,
    /// Never.
    Never,
    /// Unless excluded.
    Default,
    /// Only when asked for.
    Request,
}

/// One attribute definition.
#[derive(Clone, Debug)]
pub struct Attribute {
    /// Canonical name.
    pub name: String,
    /// Data type.
    pub ty: AttrType,
    /// Multi-valued.
    pub multi: bool,
    /// Required on create/replace.
    pub required: bool,
    /// Comparisons are case-sensitive.
    pub case_exact: bool,
    /// Mutability.
    pub mutability: Mutability,
    /// Returned.
    pub returned: Returned,
    /// "none", "server" or "global".
    pub uniqueness: &'static str,
    /// Suggested values.
    pub canonical: Vec<String>,
    /// For references: what they point to.
    pub reference_types: Vec<String>,
    /// Sub-attributes of a complex attribute.
    pub sub: Vec<Attribute>,
    /// Human description.
    pub description: String,
}

fn attr(name: &str, ty: AttrType, description: &str) -> Attribute {
    Attribute {
        name: name.into(),
        ty,
        multi: false,
        required: false,
        case_exact: false,
        mutability: Mutability::ReadWrite,
        returned: Returned::Default,
        uniqueness: "none",
        canonical: vec![],
        reference_types: vec![],
        sub: vec![],
        description: description.into(),
    }
}

fn s(name: &str, description: &str) -> Attribute {
    attr(name, AttrType::String, description)
}

impl Attribute {
    fn multi(mut self) -> Self {
        self.multi = true;
        self
    }
    fn required(mut self) -> Self {
        self.required = true;
        self
    }
    fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }
    fn read_only(mut self) -> Self {
        self.mutability = Mutability::ReadOnly;
        self
    }
    fn immutable(mut self) -> Self {
        self.mutability = Mutability::Immutable;
        self
    }
    fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }
    fn unique(mut self) -> Self {
        self.uniqueness = "server";
        self
    }
    fn canonical(mut self, values: &[&str]) -> Self {
        self.canonical = values.iter().map(|v| v.to_string()).collect();
        self
    }
    fn refs(mut self, types: &[&str]) -> Self {
        self.reference_types = types.iter().map(|v| v.to_string()).collect();
        self
    }
    fn sub(mut self, sub: Vec<Attribute>) -> Self {
        self.sub = sub;
        self
    }

    /// A sub-attribute by name, case-insensitively.
    pub fn sub_attr(&self, name: &str) -> Option<&Attribute> {
        self.sub.iter().find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation.
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "name": self.name,
            "type": self.ty.name(),
            "multiValued": self.multi,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": match self.mutability {
                Mutability::ReadOnly => "readOnly",
                Mutability::ReadWrite => "readWrite",
                Mutability::Immutable => "immutable",
                Mutability::WriteOnly => "writeOnly",
            },
            "returned": match self.returned {
                Returned::Always => "always",
                Returned::Never => "never",
                Returned::Default => "default",
                Returned::Request => "request",
            },
            "uniqueness": self.uniqueness,
        });
        if let Some(obj) = out.as_object_mut() {
            if !self.canonical.is_empty() {
                obj.insert("canonicalValues".into(), json!(self.canonical));
            }
            if !self.reference_types.is_empty() {
                obj.insert("referenceTypes".into(), json!(self.reference_types));
            }
            if !self.sub.is_empty() {
                obj.insert(
                    "subAttributes".into(),
                    Value::Array(self.sub.iter().map(Attribute::to_json).collect()),
                );
            }
        }
        out
    }
}

/// A schema: an id (URN) and its attributes.
#[derive(Clone, Debug)]
pub struct Schema {
    /// The URN.
    pub id: String,
    /// Short name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Top-level attributes.
    pub attributes: Vec<Attribute>,
}

impl Schema {
    /// An attribute by name, case-insensitively.
    pub fn attr(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The RFC 7643 §7 representation, with meta.
    pub fn to_json(&self, base: &str) -> Value {
        json!({
            "schemas": [SCHEMA_SCHEMA],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": self.attributes.iter().map(Attribute::to_json).collect::<Vec<_>>(),
            "meta": {
                "resourceType": "Schema",
                "location": format!("{base}/Schemas/{}", self.id),
            }
        })
    }

    /// Parses a custom extension schema in RFC 7643 §7 form (from the CLI or console).
    pub fn from_json(value: &Value) -> Result<Schema, ScimError> {
        let bad = |m: String| ScimError::typed(400, "invalidValue", m);
        let obj = value
            .as_object()
            .ok_or_else(|| bad("a schema must be a JSON object".into()))?;
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the schema needs an \"id\" (its URN)".into()))?;
        if !id.starts_with("urn:") || id.contains(char::is_whitespace) {
            return Err(bad(format!("schema id {id:?} must be a URN (urn:...)")));
        }
        if [USER, GROUP, ENTERPRISE_USER]
            .iter()
            .any(|known| known.eq_ignore_ascii_case(id))
        {
            return Err(bad(format!("{id} is built in and cannot be redefined")));
        }
        let attrs = obj
            .get("attributes")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("the schema needs an \"attributes\" array".into()))?;
        let attributes = attrs
            .iter()
            .map(|a| parse_attribute(a, 0))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        Ok(Schema {
            id: id.to_string(),
            name: obj
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or(id)
                .to_string(),
            description: obj
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            attributes,
        })
    }
}

fn parse_attribute(value: &Value, depth: usize) -> Result<Attribute, String> {
    let obj = value
        .as_object()
        .ok_or("each attribute must be a JSON object")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("each attribute needs a \"name\"")?;
    let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    if !valid_name {
        return Err(format!("attribute name {name:?} is not a valid SCIM name"));
    }
    let ty_name = obj.get("type").and_then(Value::as_str).unwrap_or("string");
    let ty = AttrType::parse(ty_name)
        .ok_or_else(|| format!("attribute {name}: unknown type {ty_name:?}"))?;
    let flag = |key: &str| obj.get(key).and_then(Value::as_bool).unwrap_or(false);
    let mut a = attr(
        name,
        ty,
        obj.get("description").and_then(Value::as_str).unwrap_or(""),
    );
    a.multi = flag("multiValued");
    a.required = flag("required");
    a.case_exact = flag("caseExact");
    a.mutability = match obj.get("mutability").and_then(Value::as_str) {
        None | Some("readWrite") => Mutability::ReadWrite,
        Some("readOnly") => Mutability::ReadOnly,
        Some("immutable") => Mutability::Immutable,
        Some("writeOnly") => Mutability::WriteOnly,
        Some(other) => return Err(format!("attribute {name}: unknown mutability {other:?}")),
    };
    a.returned = match obj.get("returned").and_then(Value::as_str) {
        None | Some("default") => Returned::Default,
        Some("always") => Returned::Always,
        Some("never") => Returned::Never,
        Some("request") => Returned::Request,
        Some(other) => return Err(format!("attribute {name}: unknown returned {other:?}")),
    };
    if let Some(values) = obj.get("canonicalValues").and_then(Value::as_array) {
        a.canonical = values
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
    }
    if ty == AttrType::Complex {
        if depth > 0 {
            return Err(format!(
                "attribute {name}: complex sub-attributes are not allowed"
            ));
        }
        let subs = obj
            .get("subAttributes")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("complex attribute {name} needs \"subAttributes\""))?;
        a.sub = subs
            .iter()
            .map(|s| parse_attribute(s, depth + 1))
            .collect::<Result<_, _>>()?;
    }
    Ok(a)
}

fn multi_valued_common(value_desc: &str, types: &[&str]) -> Vec<Attribute> {
    vec![
        s("value", value_desc),
        s(
            "display",
            "A human-readable name, primarily used for display purposes.",
        )
        .read_only(),
        s("type", "A label indicating the attribute's function.").canonical(types),
        attr(
            "primary",
            AttrType::Boolean,
            "Whether this is the preferred value; at most one value is primary.",
        ),
    ]
}

/// The core User schema (RFC 7643 §4.1, §8.7.1).
pub fn user_schema() -> Schema {
    let name = s("name", "The components of the user's real name.").sub(vec![
        s("formatted", "The full name, formatted for display."),
        s("familyName", "The family name."),
        s("givenName", "The given name."),
        s("middleName", "The middle name(s)."),
        s("honorificPrefix", "Honorific prefix(es), e.g. 'Ms.'."),
        s("honorificSuffix", "Honorific suffix(es), e.g. 'III'."),
    ]);
    let mut name = name;
    name.ty = AttrType::Complex;
    let complex = |mut a: Attribute| {
        a.ty = AttrType::Complex;
        a
    };
    let group_ref = complex(
        s(
            "groups",
            "Groups the user belongs to, derived from group memberships.",
        )
        .multi()
        .read_only()
        .sub(vec![
            s("value", "The id of the group.").read_only(),
            attr("$ref", AttrType::Reference, "The URI of the group.")
                .refs(&["Group"])
                .read_only(),
            s("display", "The group's displayName.").read_only(),
            s("type", "direct or indirect membership.")
                .canonical(&["direct", "indirect"])
                .read_only(),
        ]),
    );
    let mut emails = multi_valued_common("Email address.", &["work", "home", "other"]);
    emails[1].mutability = Mutability::ReadWrite;
    let mut phones = multi_valued_common(
        "Phone number, e.g. tel:+1-201-555-0123.",
        &["work", "home", "mobile", "fax", "pager", "other"],
    );
    phones[1].mutability = Mutability::ReadWrite;
    let mut ims = multi_valued_common(
        "Instant messaging address.",
        &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
    );
    ims[1].mutability = Mutability::ReadWrite;
    let mut photos = multi_valued_common("URL of a photo.", &["photo", "thumbnail"]);
    photos[0] = attr("value", AttrType::Reference, "URL of a photo.").refs(&["external"]);
    photos[1].mutability = Mutability::ReadWrite;
    let generic = |desc: &str| {
        let mut v = multi_valued_common(desc, &[]);
        v[1].mutability = Mutability::ReadWrite;
        v[2].canonical.clear();
        v
    };
    let mut certs = generic("A DER-encoded X.509 certificate (base64).");
    certs[0] = attr(
        "value",
        AttrType::Binary,
        "A DER-encoded X.509 certificate.",
    );
    Schema {
        id: USER.into(),
        name: "User".into(),
        description: "User Account".into(),
        attributes: vec![
            s(
                "userName",
                "Unique identifier for the user, used to authenticate.",
            )
            .required()
            .unique(),
            name,
            s("displayName", "The name of the user, suitable for display."),
            s("nickName", "The casual way to address the user."),
            attr(
                "profileUrl",
                AttrType::Reference,
                "A URI of the user's online profile.",
            )
            .refs(&["external"]),
            s("title", "The user's title, such as 'Vice President'."),
            s(
                "userType",
                "The relationship between organization and user.",
            ),
            s(
                "preferredLanguage",
                "Preferred written or spoken language, e.g. en-US.",
            ),
            s("locale", "Default location for localization, e.g. en-US."),
            s(
                "timezone",
                "Time zone in IANA format, e.g. America/Los_Angeles.",
            ),
            attr(
                "active",
                AttrType::Boolean,
                "The user's administrative status.",
            ),
            s(
                "password",
                "The user's cleartext password; stored hashed, never returned.",
            )
            .returned(Returned::Never)
            .case_exact()
            .write_only(),
            complex(s("emails", "Email addresses.").multi().sub(emails)),
            complex(s("phoneNumbers", "Phone numbers.").multi().sub(phones)),
            complex(s("ims", "Instant messaging addresses.").multi().sub(ims)),
            complex(
                s("photos", "URLs of photos of the user.")
                    .multi()
                    .sub(photos),
            ),
            complex(
                s("addresses", "Physical mailing addresses.")
                    .multi()
                    .sub(vec![
                        s("formatted", "The full mailing address."),
                        s("streetAddress", "The street address."),
                        s("locality", "The city or locality."),
                        s("region", "The state or region."),
                        s("postalCode", "The zip or postal code."),
                        s("country", "The country (ISO 3166-1 alpha-2)."),
                        s("type", "A label indicating the address's function.")
                            .canonical(&["work", "home", "other"]),
                        attr(
                            "primary",
                            AttrType::Boolean,
                            "Whether this is the preferred address.",
                        ),
                    ]),
            ),
            group_ref,
            complex(
                s("entitlements", "Entitlements of the user.")
                    .multi()
                    .sub(generic("An entitlement.")),
            ),
            complex(
                s("roles", "Roles of the user.")
                    .multi()
                    .sub(generic("A role.")),
            ),
            complex(
                s("x509Certificates", "X.509 certificates of the user.")
                    .multi()
                    .sub(certs),
            ),
        ],
    }
}

impl Attribute {
    fn write_only(mut self) -> Self {
        self.mutability = Mutability::WriteOnly;
        self
    }
}

/// The Enterprise User extension (RFC 7643 §4.3).
pub fn enterprise_schema() -> Schema {
    let mut manager = s("manager", "The user's manager.").sub(vec![
        s("value", "The id of the manager's User resource."),
        attr(
            "$ref",
            AttrType::Reference,
            "The URI of the manager's User resource.",
        )
        .refs(&["User"]),
        s("displayName", "The manager's displayName.").read_only(),
    ]);
    manager.ty = AttrType::Complex;
    Schema {
        id: ENTERPRISE_USER.into(),
        name: "EnterpriseUser".into(),
        description: "Enterprise User".into(),
        attributes: vec![
            s("employeeNumber", "Identifier assigned by the organization."),
            s("costCenter", "Name of a cost center."),
            s("organization", "Name of an organization."),
            s("division", "Name of a division."),
            s("department", "Name of a department."),
            manager,
        ],
    }
}

/// The core Group schema (RFC 7643 §4.2).
pub fn group_schema() -> Schema {
    let mut members = s("members", "Members of the group.").multi().sub(vec![
        s("value", "The id of the member resource.").immutable(),
        attr(
            "$ref",
            AttrType::Reference,
            "The URI of the member resource.",
        )
        .refs(&["User", "Group"])
        .immutable(),
        s("display", "A human-readable name of the member.").read_only(),
        s("type", "The type of member: User or Group.")
            .canonical(&["User", "Group"])
            .immutable(),
    ]);
    members.ty = AttrType::Complex;
    Schema {
        id: GROUP.into(),
        name: "Group".into(),
        description: "Group".into(),
        attributes: vec![
            s("displayName", "A human-readable name for the group.")
                .required()
                .unique(),
            members,
        ],
    }
}

/// The two resource types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceKind {
    /// Users.
    User,
    /// Groups.
    Group,
}

impl ResourceKind {
    /// The resource type name (also the endpoint name without "s").
    pub fn name(self) -> &'static str {
        match self {
            ResourceKind::User => "User",
            ResourceKind::Group => "Group",
        }
    }

    /// The endpoint path segment.
    pub fn endpoint(self) -> &'static str {
        match self {
            ResourceKind::User => "Users",
            ResourceKind::Group => "Groups",
        }
    }

    /// The core schema URN.
    pub fn core_urn(self) -> &'static str {
        match self {
            ResourceKind::User => USER,
            ResourceKind::Group => GROUP,
        }
    }
}

/// The schemas in force for one tenant: core, enterprise, and its custom extensions.
#[derive(Clone, Debug)]
pub struct Registry {
    /// User core schema.
    pub user: Schema,
    /// Group core schema.
    pub group: Schema,
    /// Extensions that apply to users (enterprise first).
    pub user_extensions: Vec<Schema>,
    /// Extensions that apply to groups.
    pub group_extensions: Vec<Schema>,
}

/// The common attributes every resource has (RFC 7643 §3.1), built once:
/// every path resolution consults them.
pub fn common_attributes() -> &'static [Attribute] {
    static COMMON: std::sync::OnceLock<Vec<Attribute>> = std::sync::OnceLock::new();
    COMMON.get_or_init(build_common_attributes)
}

fn build_common_attributes() -> Vec<Attribute> {
    let mut meta = s("meta", "Resource metadata.").read_only().sub(vec![
        s("resourceType", "The resource type.")
            .read_only()
            .case_exact(),
        attr(
            "created",
            AttrType::DateTime,
            "When the resource was created.",
        )
        .read_only(),
        attr(
            "lastModified",
            AttrType::DateTime,
            "When the resource was last changed.",
        )
        .read_only(),
        attr("location", AttrType::Reference, "The URI of the resource.")
            .read_only()
            .case_exact(),
        s("version", "The entity tag of the resource.")
            .read_only()
            .case_exact(),
    ]);
    meta.ty = AttrType::Complex;
    vec![
        s("id", "Unique identifier assigned by the service provider.")
            .read_only()
            .case_exact()
            .returned(Returned::Always)
            .unique(),
        s(
            "externalId",
            "Identifier assigned by the provisioning client.",
        )
        .case_exact(),
        meta,
    ]
}

impl Registry {
    /// The registry with the built-in schemas plus `custom` extensions.
    /// Each custom schema applies to users unless its JSON says `"appliesTo": "Group"`.
    pub fn new(custom: &[(Schema, ResourceKind)]) -> Registry {
        let mut user_extensions = vec![enterprise_schema()];
        let mut group_extensions = Vec::new();
        for (schema, kind) in custom {
            match kind {
                ResourceKind::User => user_extensions.push(schema.clone()),
                ResourceKind::Group => group_extensions.push(schema.clone()),
            }
        }
        Registry {
            user: user_schema(),
            group: group_schema(),
            user_extensions,
            group_extensions,
        }
    }

    /// The core schema of a resource kind.
    pub fn core(&self, kind: ResourceKind) -> &Schema {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// The extensions of a resource kind.
    pub fn extensions(&self, kind: ResourceKind) -> &[Schema] {
        match kind {
            ResourceKind::User => &self.user_extensions,
            ResourceKind::Group => &self.group_extensions,
        }
    }

    /// An extension of `kind` by URN, case-insensitively.
    pub fn extension(&self, kind: ResourceKind, urn: &str) -> Option<&Schema> {
        self.extensions(kind)
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Every schema, for `/Schemas`.
    pub fn all(&self) -> Vec<&Schema> {
        let mut out = vec![&self.user, &self.group];
        out.extend(self.user_extensions.iter());
        out.extend(self.group_extensions.iter());
        out
    }

    /// A schema by URN.
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.all()
            .into_iter()
            .find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// The ResourceType documents (RFC 7643 §6).
    pub fn resource_type_json(&self, kind: ResourceKind, base: &str) -> Value {
        let extensions: Vec<Value> = self
            .extensions(kind)
            .iter()
            .map(|s| json!({"schema": s.id, "required": false}))
            .collect();
        json!({
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": kind.name(),
            "name": kind.name(),
            "endpoint": format!("/{}", kind.endpoint()),
            "description": match kind {
                ResourceKind::User => "User Account",
                ResourceKind::Group => "Group",
            },
            "schema": kind.core_urn(),
            "schemaExtensions": extensions,
            "meta": {
                "resourceType": "ResourceType",
                "location": format!("{base}/ResourceTypes/{}", kind.name()),
            }
        })
    }
}

/// Looks up a key of a JSON object case-insensitively (IdPs send "UserName").
pub fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_schema_has_the_rfc_attributes() {
        let user = user_schema();
        for name in [
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "groups",
            "entitlements",
            "roles",
            "x509Certificates",
        ] {
            assert!(user.attr(name).is_some(), "{name}");
        }
        assert_eq!(user.attr("USERNAME").unwrap().name, "userName");
        assert_eq!(user.attr("password").unwrap().returned, Returned::Never);
        assert_eq!(
            user.attr("groups").unwrap().mutability,
            Mutability::ReadOnly
        );
        assert_eq!(user.attr("emails").unwrap().ty, AttrType::Complex);
        let json = user.to_json("http://x");
        assert_eq!(json["attributes"][0]["name"], "userName");
        assert_eq!(json["attributes"][0]["uniqueness"], "server");
    }

    #[test]
    fn custom_schema_parses_and_rejects_bad_input() {
        let schema = Schema::from_json(&json!({
            "id": "urn:acme:params:scim:schemas:extension:hr:2.0:User",
            "name": "AcmeHR",
            "attributes": [
                {"name": "badgeNumber", "type": "integer"},
                {"name": "site", "type": "complex", "subAttributes": [{"name": "code"}]}
            ]
        }))
        .unwrap();
        assert_eq!(schema.attr("BADGENUMBER").unwrap().ty, AttrType::Integer);
        assert!(Schema::from_json(&json!({"id": "nope", "attributes": []})).is_err());
        assert!(Schema::from_json(&json!({"id": USER, "attributes": []})).is_err());
        assert!(
            Schema::from_json(&json!({"id": "urn:x", "attributes": [{"name": "a b"}]})).is_err()
        );
    }
}
