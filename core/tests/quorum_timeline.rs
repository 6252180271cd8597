//! Timelines of the quorum-lease election (docs/protocol.md, "Quorum
//! leases"): at time t this arrives, at t' this leaves.

mod common;

use common::*;
use vip_core::election::quorum::timing::{self, PriorRuns};
use vip_core::wire::quorum::{MessageType, Packet, Repr};
use vip_core::wire::{EthernetFrame, ETHERNET_HEADER_LEN};
use vip_core::{Command, Conditions, DropReason, Duration, Event, FrameKind, Instant, Role};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The quorum payload of a frame.
fn repr(frame: &[u8]) -> Repr {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    Repr::parse(&Packet::new_checked(eth.payload()).unwrap()).unwrap()
}

/// Node `i`'s quorum frames of `kind` since `from`, with their send times.
fn frames(
    c: &Cluster,
    i: usize,
    from: Instant,
    kind: MessageType,
) -> Vec<(Instant, Repr, Vec<u8>)> {
    c.entries(i, from)
        .into_iter()
        .filter_map(|e| match &e.what {
            Logged::Frame(FrameKind::Advert, f) if repr(f).msg_type == kind => {
                Some((e.at, repr(f), f.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A cluster of three that has elected node 0 and run a while.
fn settled() -> Cluster {
    let mut c = Cluster::quorum(3, 0, 10);
    c.drive_checking(Instant::ZERO + ms(200));
    assert_eq!(c.holders(), vec![0], "node 0 (priority 200) holds");
    c
}

#[test]
fn three_members_elect_one_holder_that_renews_every_interval() {
    let c = settled();
    let h = quorum(c.node(0));
    assert_eq!(c.node(0).role(), Role::Holder);
    let term = c
        .node(0)
        .holder()
        .unwrap()
        .term
        .expect("quorum holders have terms");
    for i in [1, 2] {
        assert_eq!(c.node(i).role(), Role::Backup);
        let holder = c.node(i).holder().unwrap();
        assert_eq!(holder.address, address(0));
        assert_eq!(holder.hwaddr, mac(0));
        assert_eq!(holder.term, Some(term));
        assert_eq!(quorum(c.node(i)).promised().map(|p| p.0), Some(0));
    }
    // Renewals every 10 ms; each acked by both others.
    let t = c.now - ms(100);
    let renewals = frames(&c, 0, t, MessageType::Renew);
    assert_eq!(renewals.len(), 10, "10 renewals in 100 ms");
    for w in renewals.windows(2) {
        assert_eq!(w[1].0 - w[0].0, ms(10));
    }
    for i in [1, 2] {
        let acks = frames(&c, i, t, MessageType::Ack);
        assert_eq!(acks.len(), 10);
        assert!(acks
            .iter()
            .all(|(_, r, _)| r.subject == 0 && r.echo_epoch == h.epoch()));
    }
}

#[test]
fn the_lease_runs_from_the_send_time_of_the_renewal_a_majority_acked() {
    let mut c = settled();
    let l = quorum_lease();
    let t = c.now;
    // One renewal and its acks: the lease is that renewal's send time + L.
    c.drive_checking(t + ms(10));
    let (sent, r, _) = *frames(&c, 0, t, MessageType::Renew).last().unwrap();
    let acked = frames(&c, 1, t, MessageType::Ack);
    assert!(acked.iter().any(|(_, a, _)| a.echo_seq == r.seq));
    assert_eq!(quorum(c.node(0)).lease_end(), Some(sent + l));
    // An ack that names an older renewal counts from that renewal's send time
    // only: with both members cut, the lease stays where the last acked
    // renewal put it, and the holder releases exactly then.
    c.cut[1] = true;
    c.cut[2] = true;
    let end = quorum(c.node(0)).lease_end().unwrap();
    c.drive_checking(end - Duration::from_micros(1));
    assert_eq!(c.holders(), vec![0]);
    c.drive_checking(end);
    assert!(c.holders().is_empty(), "released at the lease's end");
    assert_eq!(c.first_event(0, t, release()), Some(end));
}

/// What a restarted test member knows: a run of this boot promised under
/// the test defaults (P = 50 ms, ρ = 500 ppm).
fn this_boot() -> PriorRuns {
    PriorRuns::ThisBoot {
        lease: ms(50),
        drift_ppm: 500,
    }
}

/// Crashes member `i` of three and starts it again at once, healthy or not,
/// after a run of this boot; returns its restart wait.
fn restart_member(c: &mut Cluster, i: usize, priority: u8, healthy: bool) -> Duration {
    c.crash(i);
    let conditions = Conditions {
        healthy,
        prior_runs: this_boot(),
        ..Conditions::default()
    };
    c.restart(i, quorum_settings(i, 3, 0, priority, 10), conditions);
    timing::restart_wait(this_boot())
}

/// Runs in 100 µs steps until node `i` is a candidate.
fn drive_until_candidate(c: &mut Cluster, i: usize) {
    for _ in 0..10_000 {
        if c.node(i).role() == Role::Candidate {
            return;
        }
        let until = c.now + Duration::from_micros(100);
        c.drive_checking(until);
    }
    panic!("n{i} never stood");
}

/// L for the test defaults: P = 50 ms, ρ = 500 ppm, D = 1 ms.
fn quorum_lease() -> Duration {
    timing::lease(ms(50), 500, ms(1))
}

#[test]
fn a_holder_losing_its_majority_releases_before_it_sends_anything_else() {
    let mut c = settled();
    c.cut[1] = true;
    c.cut[2] = true;
    let end = quorum(c.node(0)).lease_end().unwrap();
    c.drive_checking(end + ms(100));
    let after = c.entries(0, end);
    let release_at = after
        .iter()
        .position(|e| matches!(e.what, Logged::Event(Event::ReleaseVip(_))))
        .expect("released");
    assert!(
        after[..release_at]
            .iter()
            .all(|e| !matches!(e.what, Logged::Frame(..))),
        "no frame between the lease's end and the release"
    );
    // It does not stand again while its promise to itself runs.
    assert!(c.holders().is_empty(), "a lone member cannot hold");
}

#[test]
fn an_isolated_holder_lets_go_before_the_majority_elects_another() {
    let mut c = settled();
    let t = c.now;
    c.cut[0] = true;
    c.drive_checking(t + ms(500));
    assert_eq!(c.holders(), vec![1], "the majority side elects node 1");
    let released = c.first_event(0, t, release()).unwrap();
    let acquired = c.first_event(1, t, acquire()).unwrap();
    assert!(
        released < acquired,
        "node 0 released at {released:?}, node 1 acquired at {acquired:?}"
    );
    // Within the liveness bound of the last renewal node 1 acked.
    let bound = timing::liveness_bound(ms(10), ms(50), 500, c.delay, 1);
    assert!(acquired - t <= bound, "{:?} > {bound:?}", acquired - t);
    assert!(c.node(1).holder().unwrap().term > Some(0), "a new term");
}

#[test]
fn a_crash_is_taken_over_after_the_promises_run_out() {
    let mut c = settled();
    let last = frames(&c, 0, Instant::ZERO, MessageType::Renew)
        .last()
        .unwrap()
        .0;
    c.crash(0);
    c.drive_checking(last + ms(300));
    assert_eq!(c.holders(), vec![1]);
    let acquired = c.first_event(1, last, acquire()).unwrap();
    // Not before the promises to node 0 ran out (P after receipt), and
    // within one election round after.
    assert!(acquired >= last + c.delay + ms(50));
    assert!(acquired <= last + timing::liveness_bound(ms(10), ms(50), 500, c.delay, 0));
    // Node 2 follows the new holder.
    assert_eq!(c.node(2).holder().unwrap().address, address(1));
}

#[test]
fn a_member_promised_to_one_node_votes_for_no_other() {
    let mut c = settled();
    let t = c.now;
    // Node 1 is made to stand now, while node 2 is promised to node 0.
    let votes_before = frames(&c, 2, Instant::ZERO, MessageType::Vote).len();
    let request = forged_vote_request(&mut c, 1);
    c.inject(&request);
    c.drive_checking(t + ms(30));
    assert_eq!(
        frames(&c, 2, Instant::ZERO, MessageType::Vote).len(),
        votes_before
    );
    assert_eq!(c.holders(), vec![0], "the holder is not deposed");
}

/// A vote request node `i` really signed: its own, re-sent with a new sequence.
fn forged_vote_request(c: &mut Cluster, i: usize) -> Vec<u8> {
    // Drive node i into candidacy by cutting it off, then take its request.
    let t = c.now;
    let saved = c.cut.clone();
    c.cut[i] = true;
    c.drive_checking(t + ms(100));
    c.cut = saved;
    frames(c, i, t, MessageType::VoteRequest)
        .last()
        .expect("node stood while cut off")
        .2
        .clone()
}

#[test]
fn bad_tags_replays_and_foreign_configs_are_dropped_and_counted() {
    let mut c = settled();
    let t = c.now;
    c.drive_checking(t + ms(10));
    let (_, _, renewal) = frames(&c, 0, t, MessageType::Renew).last().unwrap().clone();
    let before = c.node(1).counters().clone();
    let lease_before = quorum(c.node(0)).lease_end();
    // A replay of a renewal node 1 already took.
    c.inject(&renewal);
    // A flipped bit anywhere in the signed part or the tag.
    let mut bad = renewal.clone();
    bad[ETHERNET_HEADER_LEN + 33] ^= 0x10;
    c.inject(&bad);
    let mut bad_tag = renewal.clone();
    bad_tag[ETHERNET_HEADER_LEN + 60] ^= 1;
    c.inject(&bad_tag);
    let after = c.node(1).counters();
    assert_eq!(
        after.dropped(DropReason::Replay),
        before.dropped(DropReason::Replay) + 1
    );
    assert_eq!(
        after.dropped(DropReason::Auth),
        before.dropped(DropReason::Auth) + 2
    );
    assert_eq!(
        after.adverts_in, before.adverts_in,
        "nothing counted as heard"
    );
    assert_eq!(quorum(c.node(0)).lease_end(), lease_before);
    // A member with another lease (another digest) is not listened to.
    let mut other = quorum_settings(1, 3, 0, 190, 10);
    quorum_mut(&mut other).lease = ms(60);
    let mut c2 = Cluster::new(vec![
        quorum_settings(0, 3, 0, 200, 10),
        other,
        quorum_settings(2, 3, 0, 180, 10),
    ]);
    c2.drive_checking(Instant::ZERO + ms(300));
    assert!(c2.node(1).counters().dropped(DropReason::Digest) > 0);
    assert!(c2.node(0).counters().dropped(DropReason::Digest) > 0);
    assert_eq!(c2.holders(), vec![0], "0 and 2 agree, 1 is on its own");
}

#[test]
fn frames_from_an_unconfirmed_epoch_are_challenged_before_they_count() {
    let mut c = settled();
    let t = c.now;
    c.crash(2);
    // Restarted with its start-up challenge lost: it meets the others'
    // epochs (and they its new one) only through frames it must drop.
    c.cut[2] = true;
    c.restart(2, quorum_settings(2, 3, 0, 180, 10), Conditions::default());
    c.cut[2] = false;
    c.drive_checking(t + ms(100));
    assert!(
        c.node(2).counters().dropped(DropReason::Epoch) >= 1,
        "the first renewal"
    );
    assert!(frames(&c, 2, t, MessageType::Challenge)
        .iter()
        .any(|(_, r, _)| r.subject == 0));
    assert!(frames(&c, 0, t, MessageType::Response)
        .iter()
        .any(|(_, r, _)| r.subject == 2));
    // Then its acks count again.
    assert_eq!(quorum(c.node(2)).promised().map(|p| p.0), Some(0));
    assert!(!frames(&c, 2, t + ms(50), MessageType::Ack).is_empty());
}

#[test]
fn a_restarted_member_neither_votes_nor_acks_during_its_wait() {
    let mut c = settled();
    let t = c.now;
    let wait = restart_member(&mut c, 2, 180, true);
    assert_eq!(quorum(c.node(2)).waits_until(), t + wait);
    c.drive_checking(t + wait - Duration::from_micros(1));
    assert!(
        frames(&c, 2, t, MessageType::Ack).is_empty(),
        "no ack while waiting"
    );
    assert!(frames(&c, 2, t, MessageType::Vote).is_empty());
    assert!(frames(&c, 2, t, MessageType::VoteRequest).is_empty());
    // It still learned the holder, for status.
    assert_eq!(c.node(2).holder().unwrap().address, address(0));
    c.drive_checking(t + wait + ms(20));
    assert!(
        !frames(&c, 2, t + wait, MessageType::Ack).is_empty(),
        "acks after the wait"
    );
}

#[test]
fn a_witness_votes_and_never_holds() {
    // Two nodes and a witness: either node's loss is survived.
    for lost in [0, 1] {
        let mut c = Cluster::quorum(3, 1, 10);
        c.drive_checking(Instant::ZERO + ms(200));
        assert_eq!(c.holders(), vec![0]);
        assert_eq!(c.node(2).role(), Role::Backup, "the witness");
        let t = c.now;
        c.crash(lost);
        c.drive_checking(t + ms(400));
        assert_eq!(c.holders(), vec![1 - lost], "the other node holds");
        assert!(frames(&c, 2, Instant::ZERO, MessageType::VoteRequest).is_empty());
        assert!(!frames(&c, 2, Instant::ZERO, MessageType::Vote).is_empty());
    }
    // The witness alone with one node: still a majority, never the holder.
    let mut c = Cluster::quorum(3, 1, 10);
    c.drive_checking(Instant::ZERO + ms(200));
    c.crash(0);
    c.crash(1);
    c.drive_checking(c.now + ms(500));
    assert!(c.holders().is_empty());
}

#[test]
fn a_move_releases_first_and_the_target_holds_one_round_trip_later() {
    let mut c = settled();
    let t = c.now;
    c.command(0, Command::MoveTo(Some(2)));
    let out = c.entries(0, t);
    let release_at = out
        .iter()
        .position(|e| matches!(e.what, Logged::Event(Event::ReleaseVip(_))))
        .unwrap();
    let release_frame = out
        .iter()
        .position(
            |e| matches!(&e.what, Logged::Frame(_, f) if repr(f).msg_type == MessageType::Release),
        )
        .unwrap();
    assert!(
        release_at < release_frame,
        "ReleaseVip before the release frame"
    );
    // Release reaches all (delay), target stands at once, votes come back.
    c.drive_checking(t + c.delay.saturating_mul(3));
    assert_eq!(c.holders(), vec![2]);
    assert_eq!(
        c.first_event(2, t, acquire()),
        Some(t + c.delay.saturating_mul(3))
    );
    c.drive_checking(t + ms(200));
    assert_eq!(
        c.holders(),
        vec![2],
        "a move sticks: node 2 does not hand the VIP back to the higher node 0"
    );
}

#[test]
fn a_move_asked_by_a_backup_goes_through_the_holder() {
    let mut c = settled();
    let t = c.now;
    c.command(1, Command::MoveTo(None));
    c.drive_checking(t + ms(20));
    // Without a target the holder picks the best other member: node 1 (190).
    assert_eq!(c.holders(), vec![1]);
}

#[test]
fn a_move_to_a_witness_or_an_unknown_member_is_refused() {
    let mut c = Cluster::quorum(3, 1, 10);
    c.drive_checking(Instant::ZERO + ms(200));
    let t = c.now;
    c.command(0, Command::MoveTo(Some(2)));
    c.command(0, Command::MoveTo(Some(9)));
    c.drive_checking(t + ms(50));
    assert_eq!(c.holders(), vec![0]);
    assert_eq!(c.first_event(0, t, release()), None);
}

#[test]
fn a_higher_priority_member_is_handed_the_vip_when_preempt_is_on() {
    let mut c = settled();
    let t = c.now;
    c.command(2, Command::SetPriority(250));
    c.drive_checking(t + ms(50));
    assert_eq!(c.holders(), vec![2], "preempted through the move path");
    let (_, r, _) = frames(&c, 0, t, MessageType::Release)[0].clone();
    assert_eq!(r.subject, 2);
}

#[test]
fn shutdown_hands_the_vip_to_the_best_other_member_at_once() {
    let mut c = settled();
    let t = c.now;
    c.command(0, Command::Shutdown);
    c.drive_checking(t + ms(5));
    assert_eq!(c.holders(), vec![1]);
}

#[test]
fn the_new_holder_repeats_its_announcement_after_reannounce_after() {
    let c = settled();
    let acquired = c.first_event(0, Instant::ZERO, acquire()).unwrap();
    let garps: Vec<Instant> = c
        .entries(0, acquired)
        .into_iter()
        .filter(|e| matches!(e.what, Logged::Frame(FrameKind::Garp, _)))
        .map(|e| e.at)
        .collect();
    // The burst (3 × both forms, 100 ms apart) plus a whole burst again at +50 ms.
    assert!(garps.contains(&(acquired + ms(50))), "{garps:?}");
}

#[test]
fn quorum_configs_with_too_few_members_or_a_short_lease_are_refused() {
    use vip_core::config::Rule;
    use vip_core::Config;
    let two = quorum_settings(0, 2, 0, 200, 10);
    let e = Config::new(two).unwrap_err();
    assert!(
        matches!(e[0].rule, Rule::QuorumTooFewMembers { members: 2 }),
        "{e:?}"
    );
    assert!(e[0].to_string().contains("witness = true"), "{}", e[0]);
    let mut short = quorum_settings(0, 3, 0, 200, 10);
    quorum_mut(&mut short).lease = ms(20);
    let e = Config::new(short).unwrap_err();
    assert!(matches!(e[0].rule, Rule::LeaseTooShort { .. }), "{e:?}");
    let mut thin = quorum_settings(0, 3, 0, 200, 10);
    quorum_mut(&mut thin).fence_margin = ms(30);
    let e = Config::new(thin).unwrap_err();
    assert!(
        matches!(e[0].rule, Rule::HolderLeaseTooShort { .. }),
        "{e:?}"
    );
    let mut outsider = quorum_settings(5, 3, 0, 200, 10);
    outsider.host.name = name(5);
    let e = Config::new(outsider).unwrap_err();
    assert!(matches!(e[0].rule, Rule::NotAMember(_)), "{e:?}");
}

#[test]
fn a_holder_steps_down_on_a_renewal_with_a_higher_term() {
    // Two holders can only meet when the drift bound broke (or a frozen VM
    // woke). Stage it: in a second world with the same nodes (same seeds,
    // so the same epochs), node 0 crashed and node 1 won a later term; its
    // renewal, fresh by sequence, reaches the first world's holder node 0.
    let mut a = settled();
    let mut b = Cluster::quorum(3, 0, 10);
    b.drive_checking(Instant::ZERO + ms(100));
    b.crash(0);
    b.drive_checking(Instant::ZERO + ms(2000));
    assert_eq!(b.holders(), vec![1]);
    let (_, r, renewal) = frames(&b, 1, Instant::ZERO, MessageType::Renew)
        .last()
        .unwrap()
        .clone();
    let own = a.node(0).holder().unwrap().term.unwrap();
    assert!(r.term > own, "a later term");
    let t = a.now;
    a.inject(&renewal);
    assert!(a.holders().is_empty(), "node 0 gave the VIP up at once");
    assert_eq!(a.first_event(0, t, release()), Some(t));
}

#[test]
fn a_node_handed_the_vip_by_preemption_still_hands_it_to_a_higher_one() {
    // Found by the simulator (q-partition-minority-5): the lowest priority
    // won a round, preempted to the next, and that one kept the VIP for
    // good because every win through a release counted as a planned move.
    let mut c = settled();
    let t = c.now;
    c.command(1, Command::SetPriority(210));
    c.drive_checking(t + ms(50));
    assert_eq!(c.holders(), vec![1], "n0 (200) preempted to n1 (210)");
    let t = c.now;
    c.command(2, Command::SetPriority(220));
    c.drive_checking(t + ms(50));
    assert_eq!(
        c.holders(),
        vec![2],
        "n1 (210) preempts to n2 (220) in turn"
    );
}

#[test]
fn a_holder_that_gave_the_vip_up_for_its_health_gets_it_back_when_healthy() {
    let mut c = settled();
    let t = c.now;
    c.command(0, Command::HealthDown);
    c.drive_checking(t + ms(20));
    assert_eq!(c.holders(), vec![1], "handed over at once");
    let t = c.now;
    c.command(0, Command::HealthUp);
    c.drive_checking(t + ms(100));
    assert_eq!(
        c.holders(),
        vec![0],
        "preempt: the higher priority holds again"
    );
}

#[test]
fn a_planned_move_to_a_lower_priority_still_sticks() {
    let mut c = settled();
    let t = c.now;
    c.command(0, Command::MoveTo(Some(1)));
    c.drive_checking(t + ms(200));
    assert_eq!(
        c.holders(),
        vec![1],
        "not bounced back to n0 (200) by preemption"
    );
}

#[test]
fn a_planned_move_up_to_a_node_that_is_not_the_highest_sticks() {
    // Found on the testbed (move_between_every_pair): a move from n2 (100)
    // to n1 (150) was taken for a preemption because n1 outranks n2, so n0
    // (200) preempted n1 11 ms after the operator's move. The release says
    // whether it is a planned move; priorities do not.
    let mut c = settled();
    let t = c.now;
    c.command(0, Command::MoveTo(Some(2)));
    c.drive_checking(t + ms(100));
    assert_eq!(c.holders(), vec![2]);
    let t = c.now;
    c.command(2, Command::MoveTo(Some(1)));
    c.drive_checking(t + ms(300));
    assert_eq!(c.holders(), vec![1], "n1 keeps the VIP it was moved to");
    // A hand-over for preemption is not planned: preempted back as before.
    c.command(1, Command::SetPriority(50));
    let t = c.now;
    c.command(1, Command::HealthDown);
    c.drive_checking(t + ms(200));
    c.command(1, Command::HealthUp);
    c.drive_checking(c.now + ms(300));
    assert_eq!(
        c.holders(),
        vec![0],
        "n0 (200) preempts whoever got it by hand-over"
    );
}

#[test]
fn a_holder_announces_again_when_a_member_returns_from_a_partition() {
    // Found by the simulator (explore --protocol quorum, seed 539 on 3
    // members): clients cut off with the old holder kept its MAC after the
    // heal until their entries failed, because no one announced again.
    let mut c = settled();
    let t = c.now;
    c.cut[2] = true;
    c.drive_checking(t + ms(200));
    assert_eq!(c.holders(), vec![0], "n0 and n1 are a majority");
    let back = c.now;
    c.cut[2] = false;
    c.drive_checking(back + ms(30));
    let garps: Vec<Instant> = c
        .entries(0, back)
        .into_iter()
        .filter(|e| matches!(e.what, Logged::Frame(FrameKind::Garp, _)))
        .map(|e| e.at)
        .collect();
    // n2 answers the next renewal (within R = 10 ms); its ack brings the burst.
    assert!(
        garps
            .first()
            .is_some_and(|&g| g <= back + ms(10) + c.delay.saturating_mul(2)),
        "no announcement after n2 returned: {garps:?}"
    );
    // Not for members heard all along (after the burst: 3 every 100 ms).
    c.drive_checking(back + ms(400));
    let quiet = c.now;
    c.drive_checking(quiet + ms(300));
    assert!(
        c.entries(0, quiet)
            .iter()
            .all(|e| !matches!(e.what, Logged::Frame(FrameKind::Garp, _))),
        "announced with no member returning"
    );
}

#[test]
fn a_holder_that_never_heard_a_member_announces_when_it_appears() {
    // The same, when the holder restarted while the member was cut off
    // (explore --protocol quorum, seed 5472 on 3 members): it had never
    // heard the member at all.
    let mut c = settled();
    c.cut[0] = true;
    c.crash(1);
    c.restart(1, quorum_settings(1, 3, 0, 190, 10), Conditions::default());
    let t = c.now;
    // Past the acquisition's burst (3 every 100 ms, again at +50 ms).
    c.drive_checking(t + ms(1000));
    assert_eq!(c.holders(), vec![1], "n1 and n2 elect n1");
    let back = c.now;
    c.cut[0] = false;
    // n0's epoch is new to n1: one challenge round trip, then its frames count.
    c.drive_checking(back + ms(40));
    let garp = c
        .entries(1, back)
        .into_iter()
        .find(|e| matches!(e.what, Logged::Frame(FrameKind::Garp, _)));
    assert!(garp.is_some(), "no announcement after n0 appeared");
}

#[test]
fn a_candidate_yields_to_a_vote_request_with_a_higher_term() {
    // Found by the simulator (explore --protocol quorum, seed 1109 on 3
    // members): with every member standing, each candidacy (2 R) outlasts
    // the backoff between them (at most R), so the requests kept meeting
    // candidates, which never answer: no holder for longer than B.
    let mut c = settled();
    c.crash(0);
    c.cut[1] = true;
    c.cut[2] = true;
    let t = c.now;
    c.drive_checking(t + ms(300));
    let last = |c: &Cluster, i: usize| {
        frames(c, i, t, MessageType::VoteRequest)
            .last()
            .unwrap()
            .clone()
    };
    // x has the higher term; y is made to stand once more, alone.
    let (x, y) = if last(&c, 1).1.term > last(&c, 2).1.term {
        (1, 2)
    } else {
        (2, 1)
    };
    let (_, request, bytes) = last(&c, x);
    drive_until_candidate(&mut c, y);
    assert!(last(&c, y).1.term < request.term, "x's term is the higher");
    let at = c.now;
    c.cut[y] = false;
    c.inject(&bytes);
    let votes = frames(&c, y, at, MessageType::Vote);
    assert!(
        votes
            .iter()
            .any(|(_, v, _)| v.subject == x as u8 && v.term == request.term),
        "the candidate in the lower term did not vote for the higher one"
    );
    assert_ne!(
        c.node(y).role(),
        Role::Candidate,
        "it gave its candidacy up"
    );
}

#[test]
fn a_restarted_member_learns_the_term_to_beat_from_the_challenge_answers() {
    // Found by the simulator (explore --protocol quorum, seed 3489 on 3
    // members): a restarted member forgets every term; its voters refuse any
    // term at or below the one they backed, and nothing told it that term,
    // so it climbed one counter per failed round, far beyond B.
    let mut c = settled();
    for (from, to) in [(0, 1), (1, 2), (2, 0), (0, 1)] {
        let t = c.now;
        c.command(from, Command::MoveTo(Some(to)));
        c.drive_checking(t + ms(20));
        assert_eq!(c.holders(), vec![to as usize]);
    }
    let term = c.node(1).holder().unwrap().term.unwrap();
    assert!(term >> 8 >= 5, "terms have climbed: {term:#x}");
    // n0 and n2 may vote but not stand; n1 restarts with no memory.
    c.command(2, Command::HealthDown);
    c.command(0, Command::HealthDown);
    let t = c.now;
    let wait = restart_member(&mut c, 1, 190, true);
    // One round after the wait: its backoff, a round trip.
    let one_round = wait + timing::backoff_max(ms(10)) + ms(10) + c.delay.saturating_mul(2);
    c.drive_checking(t + one_round);
    assert_eq!(
        c.holders(),
        vec![1],
        "won in its first round after the wait"
    );
    assert!(c.node(1).holder().unwrap().term.unwrap() > term);
}

#[test]
fn a_member_restarted_while_unhealthy_still_waits_before_it_acks() {
    // Found by the simulator (explore --protocol quorum, seed 4109 on 3
    // members): a daemon restarted with its health check failing starts in
    // Fault without `startup`, so its restart wait was never armed and it
    // acked the holder at once, within a promise its previous run made.
    let mut c = settled();
    let t = c.now;
    let wait = restart_member(&mut c, 2, 180, false);
    c.drive_checking(t + wait - Duration::from_micros(1));
    assert!(
        frames(&c, 2, t, MessageType::Ack).is_empty(),
        "no ack while waiting"
    );
    c.drive_checking(t + wait + ms(20));
    assert!(
        !frames(&c, 2, t + wait, MessageType::Ack).is_empty(),
        "it votes once the wait is over"
    );
}

#[test]
fn a_former_holder_backs_no_holder_with_a_lower_term() {
    // Found by the simulator (explore --protocol quorum, seed 12457 on 3
    // members): a holder frozen with its clock woke under its old lease and
    // renewed; the member that had held a later term since (and lost its
    // VIP) acked it, as its own term did not count as one it backed. The
    // stale holder kept the VIP without announcing it, and clients stayed
    // on the other MAC.
    let mut c = settled();
    let t = c.now;
    c.cut[0] = true;
    c.drive_checking(t + ms(200));
    assert_eq!(c.holders(), vec![1]);
    // n0's last renewal, sent while cut off: a fresh sequence for n1.
    let (_, stale, bytes) = frames(&c, 0, t, MessageType::Renew).last().unwrap().clone();
    assert!(stale.term < c.node(1).holder().unwrap().term.unwrap());
    // n1 loses its lease (n2 gone) and its promise to itself runs out.
    c.crash(2);
    let t = c.now;
    c.drive_checking(t + ms(200));
    assert!(c.holders().is_empty());
    let at = c.now;
    c.inject(&bytes);
    assert!(
        frames(&c, 1, at, MessageType::Ack).is_empty(),
        "n1 acked a renewal in a term below the one it held"
    );
}

#[test]
fn a_candidate_behind_in_terms_learns_the_term_to_beat_from_a_refusal() {
    // Found by the simulator (explore --protocol quorum, seed 49518 on 3
    // members): a member that missed the others' elections stood in terms
    // they had passed; each refused in silence, so it climbed one counter
    // per round, far beyond B.
    let mut c = settled();
    c.cut[1] = true;
    // n0 and n2 hand the VIP to each other many times: their terms climb.
    for k in 0..20 {
        let (from, to) = if k % 2 == 0 { (0, 2) } else { (2, 0) };
        let t = c.now;
        c.command(from, Command::MoveTo(Some(to)));
        c.drive_checking(t + ms(2));
        assert_eq!(c.holders(), vec![to as usize]);
    }
    let high = c.node(0).holder().unwrap().term.unwrap();
    // Neither may stand any more; their promises run out.
    c.command(2, Command::HealthDown);
    c.command(0, Command::HealthDown);
    let t = c.now;
    c.drive_checking(t + ms(100));
    assert!(c.holders().is_empty());
    let mine = frames(&c, 1, Instant::ZERO, MessageType::VoteRequest)
        .last()
        .unwrap()
        .1
        .term;
    assert!(
        mine >> 8 < (high >> 8) - 5,
        "n1 is well behind: {mine:#x} < {high:#x}"
    );
    let back = c.now;
    c.cut[1] = false;
    // A refused round, then one in a term above theirs.
    let round = timing::candidacy(ms(10)) + timing::backoff_max(ms(10)) + c.delay.saturating_mul(2);
    c.drive_checking(back + round.saturating_mul(2));
    assert_eq!(c.holders(), vec![1], "n1 did not catch up in two rounds");
}

#[test]
fn a_move_target_does_not_yield_to_a_rival_candidate() {
    // Found by the simulator (explore --protocol quorum, seed 18 on 5
    // members): a member standing on its own in a high term asked the move
    // target for its vote; the target yielded and the move failed, though
    // the members were promised to it alone by the release.
    let mut c = settled();
    let t = c.now;
    // n1, cut off, stands again and again: its term climbs.
    c.cut[1] = true;
    c.drive_checking(t + ms(200));
    let (_, rival, bytes) = frames(&c, 1, t, MessageType::VoteRequest)
        .last()
        .unwrap()
        .clone();
    assert_eq!(c.holders(), vec![0]);
    let at = c.now;
    c.command(0, Command::MoveTo(Some(2)));
    c.drive_checking(at + c.delay);
    assert_eq!(
        c.node(2).role(),
        Role::Candidate,
        "the target stands at once"
    );
    assert!(rival.term > frames(&c, 2, at, MessageType::VoteRequest)[0].1.term);
    c.inject(&bytes);
    c.drive_checking(at + c.delay.saturating_mul(4));
    assert_eq!(c.holders(), vec![2], "the move went through");
}

#[test]
fn a_move_target_that_is_standing_stands_again_on_the_release() {
    // Found by the simulator (explore --protocol quorum, seed 796 on 5
    // members): the target was a candidate when the release came, and only
    // a backup stood on it, so the move waited for a whole new round.
    let mut c = settled();
    c.cut[2] = true;
    drive_until_candidate(&mut c, 2);
    c.cut[2] = false;
    // The holder hears n2 (its request, late), so n2 is a valid target.
    let (_, _, request) = frames(&c, 2, Instant::ZERO, MessageType::VoteRequest)
        .last()
        .unwrap()
        .clone();
    c.inject(&request);
    assert_eq!(c.node(2).role(), Role::Candidate);
    let at = c.now;
    c.command(0, Command::MoveTo(Some(2)));
    c.drive_checking(at + c.delay.saturating_mul(3));
    assert_eq!(
        c.holders(),
        vec![2],
        "the target held one round trip after the release"
    );
}

#[test]
fn a_candidate_that_gives_its_term_up_frees_its_voters_at_once() {
    // Found by the simulator (explore --protocol quorum, seed 4965 on 7
    // members): after a split vote every voter stayed promised to a
    // candidate that had given its term up, for a whole promise, so round
    // after round split again; no holder for several promises.
    let mut c = Cluster::quorum(5, 0, 10);
    c.drive_checking(Instant::ZERO + ms(200));
    assert_eq!(c.holders(), vec![0]);
    c.crash(0);
    c.cut[3] = true;
    c.cut[4] = true;
    drive_until_candidate(&mut c, 1);
    let stood = c.now;
    c.drive_checking(stood + ms(1));
    assert_eq!(
        quorum(c.node(2)).promised().map(|p| p.0),
        Some(1),
        "n2 voted for n1"
    );
    // Two votes of five: n1 gives the term up after 2 R.
    while c.node(1).role() == Role::Candidate {
        let until = c.now + Duration::from_micros(100);
        c.drive_checking(until);
    }
    let gave_up = c.now;
    c.drive_checking(gave_up + c.delay.saturating_mul(2));
    assert_ne!(
        quorum(c.node(2)).promised().map(|p| p.0),
        Some(1),
        "n2 is still bound to a term n1 gave up"
    );
}

#[test]
fn votes_read_after_the_lease_they_grant_ran_out_win_nothing() {
    // A candidate that was not scheduled for longer than a lease reads its
    // votes before its timers: acquiring then would announce the VIP and
    // release it at once. It gives the round up instead.
    let mut c = settled();
    c.crash(0);
    drive_until_candidate(&mut c, 1);
    let t = c.now;
    let (sent_at, _, _) = frames(&c, 1, t, MessageType::VoteRequest)
        .pop()
        .expect("node 1 asked for votes");
    // Node 2 votes; node 1 is cut off before the vote reaches it.
    c.drive_until(t + c.delay);
    c.cut[1] = true;
    c.drive_until(t + c.delay + c.delay + c.delay);
    let (_, _, vote) = frames(&c, 2, t, MessageType::Vote)
        .pop()
        .expect("node 2 voted for node 1");
    // Node 1 wakes after the lease and reads the vote first.
    let late = sent_at + quorum_lease() + ms(1);
    c.now = late;
    c.node_mut(1).handle_frame(late, &vote);
    c.drain(1);
    assert_eq!(
        c.first_event(1, t, acquire()),
        None,
        "no VIP for a dead lease"
    );
    assert_ne!(c.node(1).role(), Role::Holder);
    assert!(
        !frames(&c, 1, late, MessageType::Release).is_empty(),
        "the round is given up, freeing the voters"
    );
}
