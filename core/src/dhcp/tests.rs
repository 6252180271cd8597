use super::*;

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 100);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

#[test]
fn a_shared_lease_crosses_a_renewal_and_comes_out_shorter_by_the_drift() {
    let sent_at = Instant::from_micros(5_000_000);
    let lease = SharedLease {
        address: VIP,
        server: Some(SERVER),
        expires_at: Some(sent_at + Duration::from_secs(100)),
    };
    let (first, second) = lease.to_echo(sent_at);
    assert_eq!(first >> 32, u64::from(u32::from(VIP)));
    assert_eq!(second >> 32, 100_000, "milliseconds left");
    let heard_at = sent_at + Duration::from_millis(1);
    let heard = SharedLease::from_echo(heard_at, first, second, 500).unwrap();
    assert_eq!((heard.address, heard.server), (VIP, Some(SERVER)));
    // 100 s less 500 ppm: 50 ms earlier, counted from receipt.
    assert_eq!(
        heard.expires_at,
        Some(heard_at + Duration::from_millis(100_000 - 50))
    );
}

#[test]
fn no_lease_is_carried_as_zeros_and_read_as_none() {
    let address_only = SharedLease {
        address: VIP,
        server: None,
        expires_at: None,
    };
    assert_eq!(address_only.to_echo(Instant::ZERO), (0, 0));
    assert_eq!(SharedLease::from_echo(Instant::ZERO, 0, 0, 500), None);
}

#[test]
fn a_lease_longer_than_the_field_is_carried_as_its_longest() {
    let lease = SharedLease {
        address: VIP,
        server: Some(SERVER),
        expires_at: Some(Instant::ZERO + Duration::from_secs(100 * 86_400)),
    };
    let (_, second) = lease.to_echo(Instant::ZERO);
    assert_eq!(
        second >> 32,
        u64::from(u32::MAX),
        "about 49 days, shorter: safe"
    );
}

#[test]
fn discover_retries_double_from_four_to_sixty_four_seconds_within_a_second() {
    let mut prng = Prng::new(7);
    for attempts in 1..=10u8 {
        let base = 4u64 << u32::from(attempts - 1).min(4);
        for _ in 0..50 {
            let wait = discover_backoff(attempts, &mut prng).total_micros();
            let (lo, hi) = ((base - 1) * 1_000_000, (base + 1) * 1_000_000);
            assert!((lo..=hi).contains(&wait), "attempt {attempts}: {wait}");
        }
    }
}

#[test]
fn renewal_retries_wait_half_the_time_left_within_their_bounds() {
    let now = Instant::from_micros(1_000_000);
    let at = |s: u64| now + Duration::from_secs(s);
    assert_eq!(retry_wait(now, at(10)), Duration::from_secs(5));
    assert_eq!(retry_wait(now, at(1)), RETRY_MIN);
    assert_eq!(retry_wait(now, now), RETRY_MIN);
    assert_eq!(retry_wait(now, at(3600)), RETRY_MAX);
}
