//! The keys a rule can count per, computed once per event by the engine.

/// 64-bit keys of one event. Identity keys are keyed hashes (see
/// `engine::keys`), so state never holds a user name, an address or a password
/// hash in clear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys {
    pub ip: u64,
    /// Tenant and lower-cased user.
    pub user: u64,
    pub user_ip: u64,
    /// IPv4 /24 or IPv6 /64.
    pub network: u64,
    pub asn: Option<u64>,
    pub password: Option<u64>,
    pub device: Option<u64>,
}

/// What a bucket is per, or what a `distinct:` bucket counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Ip,
    User,
    UserIp,
    Network,
    Asn,
    Password,
    Device,
}

impl KeyKind {
    pub const NAMES: &'static str = "ip, user, user_ip, network, asn, password, device";

    pub fn parse(s: &str) -> Option<KeyKind> {
        Some(match s {
            "ip" => KeyKind::Ip,
            "user" => KeyKind::User,
            "user_ip" => KeyKind::UserIp,
            "network" => KeyKind::Network,
            "asn" => KeyKind::Asn,
            "password" => KeyKind::Password,
            "device" => KeyKind::Device,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Ip => "ip",
            KeyKind::User => "user",
            KeyKind::UserIp => "user+ip",
            KeyKind::Network => "network",
            KeyKind::Asn => "asn",
            KeyKind::Password => "password",
            KeyKind::Device => "device",
        }
    }

    /// The key of this kind for the event, if the event has one (no ASN without an
    /// ASN database, no password hash unless the caller sent one, …).
    pub fn of(self, k: &Keys) -> Option<u64> {
        match self {
            KeyKind::Ip => Some(k.ip),
            KeyKind::User => Some(k.user),
            KeyKind::UserIp => Some(k.user_ip),
            KeyKind::Network => Some(k.network),
            KeyKind::Asn => k.asn,
            KeyKind::Password => k.password,
            KeyKind::Device => k.device,
        }
    }

    /// Whether the key is where sign-ins come from (an address, a network, an
    /// ASN, one user from one address): a block on it blames that source.
    pub fn is_source(self) -> bool {
        matches!(
            self,
            KeyKind::Ip | KeyKind::UserIp | KeyKind::Network | KeyKind::Asn
        )
    }

    /// Whether only the user can act on this key: the condition for letting a
    /// success reset it.
    pub fn includes_user(self) -> bool {
        matches!(self, KeyKind::User | KeyKind::UserIp)
    }
}
