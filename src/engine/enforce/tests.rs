use super::*;

fn event(ip: &str) -> Event {
    Event {
        event_id: "e-1".into(),
        user: " Alice@Example.com".into(),
        tenant: Some("acme".into()),
        ip: ip.parse().unwrap(),
        device_id: Some("dev-9".into()),
        ..Event::default()
    }
}

fn block(scope: Scope, ip: &str, asn: Option<u32>, until_ms: u64) -> Option<Enforcement> {
    Enforcement::for_event(
        EnforcementAction::Block,
        scope,
        &event(ip),
        asn,
        Some(Timestamp(until_ms)),
        "brute_force",
        Timestamp(1_000),
    )
}

#[test]
fn keys_name_what_is_enforced() {
    let key = |s, ip, asn| block(s, ip, asn, 5_000).map(|e| e.key());
    let v4 = "203.0.113.7";
    assert_eq!(key(Scope::Ip, v4, None).unwrap(), "ip:203.0.113.7");
    assert_eq!(
        key(Scope::Ip, "::ffff:203.0.113.7", None).unwrap(),
        "ip:203.0.113.7"
    );
    assert_eq!(
        key(Scope::Network, v4, None).unwrap(),
        "network:203.0.113.0/24"
    );
    assert_eq!(
        key(Scope::Network, "2001:db8:1:2:3::4", None).unwrap(),
        "network:2001:db8:1:2::/64"
    );
    assert_eq!(
        key(Scope::UserIp, v4, None).unwrap(),
        "user_ip:acme/alice@example.com|203.0.113.7"
    );
    assert_eq!(
        key(Scope::User, v4, None).unwrap(),
        "user:acme/alice@example.com"
    );
    assert_eq!(key(Scope::Asn, v4, Some(64500)).unwrap(), "asn:AS64500");
    assert_eq!(key(Scope::Asn, v4, None), None, "no ASN, no enforcement");
    assert_eq!(key(Scope::Device, v4, None).unwrap(), "device:dev-9");
    let reset = Enforcement::for_event(
        EnforcementAction::RequirePasswordReset,
        Scope::User,
        &event(v4),
        None,
        None,
        "feedback",
        Timestamp(1_000),
    )
    .unwrap();
    assert_eq!(reset.key(), "password_reset:user:acme/alice@example.com");
    assert_eq!(Scope::of_key(KeyKind::Password), None);
}

#[test]
fn serializes_only_the_scope_fields_and_reads_back() {
    let e = block(Scope::UserIp, "203.0.113.7", Some(64500), 3_600_000).unwrap();
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "action": "block", "scope": "user_ip", "user": "Alice@Example.com",
            "tenant": "acme", "ip": "203.0.113.7", "until": "1970-01-01T01:00:00.000Z",
            "rule": "brute_force", "event_id": "e-1", "issued_at": "1970-01-01T00:00:01.000Z"
        })
    );
    let back: Enforcement = serde_json::from_value(json).unwrap();
    assert_eq!(back, e);
}

#[test]
fn in_force_until_expiry_and_a_longer_block_is_not_shortened() {
    let mut s = Enforcements::new(10);
    assert!(s.issue(
        block(Scope::Ip, "203.0.113.7", None, 10_000).unwrap(),
        1_000
    ));
    assert!(
        !s.issue(block(Scope::Ip, "203.0.113.7", None, 8_000).unwrap(), 2_000),
        "already blocked longer"
    );
    assert!(s.issue(
        block(Scope::Network, "203.0.113.7", None, 20_000).unwrap(),
        2_000
    ));
    assert_eq!(s.take().len(), 2);
    assert!(s.take().is_empty(), "taken once");
    assert_eq!(s.in_force(9_999).len(), 2);
    let later = s.in_force(10_000);
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].scope, Scope::Network);
    assert!(s.issue(
        block(Scope::Ip, "203.0.113.7", None, 30_000).unwrap(),
        12_000
    ));
    assert_eq!(s.in_force(12_000).len(), 2);
    assert!(!s.lift("ip:203.0.113.7", "feedback"), "another rule's");
    assert!(s.lift("ip:203.0.113.7", "brute_force"));
    assert_eq!(s.in_force(12_000).len(), 1);
    s.expire(20_000);
    assert!(s.is_empty(), "ended enforcements are swept");
}

#[test]
fn at_the_cap_the_soonest_ending_go() {
    let mut s = Enforcements::new(10);
    for i in 0..10u8 {
        let ip = format!("198.51.100.{i}");
        let until = 100_000 + i as u64 * 1_000;
        assert!(s.issue(block(Scope::Ip, &ip, None, until).unwrap(), 0));
    }
    assert!(s.issue(block(Scope::Ip, "192.0.2.1", None, 500_000).unwrap(), 0));
    assert!(s.len() <= 10);
    let keys: Vec<String> = s.in_force(0).iter().map(|e| e.key()).collect();
    assert!(!keys.contains(&"ip:198.51.100.0".to_string()), "{keys:?}");
    assert!(keys.contains(&"ip:192.0.2.1".to_string()));
    assert!(keys.contains(&"ip:198.51.100.9".to_string()));
    let untaken = s.take();
    assert_eq!(untaken.len(), 10, "the oldest untaken went");
    assert_eq!(untaken[0].key(), "ip:198.51.100.1");
    assert_eq!(s.dropped(), 1);
}

#[test]
fn reported_blocks_match_their_keys_until_they_end() {
    let mut r = ReportedBlocks::new(10);
    let keys = Keys {
        ip: 1,
        user: 2,
        user_ip: 3,
        network: 4,
        ..Keys::default()
    };
    assert_eq!(r.check(&keys, 0, true), None);
    let b = |scope, until_ms| ReportedBlock {
        scope,
        until_ms,
        event_id: "e-9".into(),
    };
    r.insert(3, b(Scope::UserIp, 1_000), 0);
    r.insert(4, b(Scope::Network, 2_000), 0);
    assert_eq!(
        r.check(&keys, 500, true).unwrap().until_ms,
        2_000,
        "the longest"
    );
    let other_user = Keys {
        user_ip: 30,
        ..keys
    };
    assert_eq!(
        r.check(&other_user, 500, true).unwrap().scope,
        Scope::Network
    );
    assert_eq!(
        r.check(
            &Keys {
                network: 40,
                ..other_user
            },
            500,
            true
        ),
        None
    );
    assert!(!r.lift(4, Scope::UserIp), "scopes must match");
    assert_eq!(r.check(&keys, 1_500, true).unwrap().scope, Scope::Network);
    assert_eq!(r.len(), 1, "the expired user+ip block went");
    assert_eq!(r.lift_event("e-9"), [Scope::Network]);
    assert!(r.is_empty());
    assert_eq!(r.check(&keys, 1_500, true), None);
    r.insert(1, b(Scope::Ip, 3_000), 1_500);
    r.expire(2_999);
    assert_eq!(r.len(), 1);
    r.expire(3_000);
    assert!(r.is_empty(), "ended blocks are swept");
}

#[test]
fn the_keys_in_force_hash_under_the_given_seeds() {
    // Enforcement keys name users and addresses a sender chooses: an
    // unkeyed hash would let them collide into one run of the table.
    let seeds = [9, 8, 7, 6];
    let keyed = Enforcements::keyed(10, seeds);
    let expected = crate::state::keyed::hasher(seeds).hash_one("user:/mallory");
    assert_eq!(keyed.in_force.hasher().hash_one("user:/mallory"), expected);
    assert_ne!(
        Enforcements::new(10)
            .in_force
            .hasher()
            .hash_one("user:/mallory"),
        expected
    );
}
