//! `vipd move`: what the daemon checks before it asks the core, and the
//! wait (in the loop, not in the core) for the target to hold.

use tokio::sync::oneshot;
use vip_core::{Command, ElectionSettings, Holder};

use super::{Agent, PendingMove};
use crate::control;
use crate::sys::PacketSocket;

impl Agent {
    /// Starts `vipd move`: checks what the daemon can check, asks the core,
    /// and waits (in the loop) for the target to hold.
    pub(super) fn start_move(
        &mut self,
        socket: &PacketSocket,
        to: Option<String>,
        reply: oneshot::Sender<Result<String, String>>,
    ) {
        let config = self.node.config();
        let cap = vip_core::Duration::from_secs(control::MOVE_TIMEOUT.as_secs());
        let wait = match config.election() {
            ElectionSettings::Quorum(q) => q.lease.saturating_mul(5),
            // The order is read by every node at once; a TTL covers a
            // target whose first keep-alive is still to be answered.
            ElectionSettings::Etcd(e) => e.lease_ttl.saturating_mul(2),
            ElectionSettings::Vrrp(_) => {
                let p = self
                    .node
                    .holder()
                    .map_or(self.node.priority(), |h| h.priority);
                let _ = reply.send(Err(format!(
                    "vipd move needs protocol = \"quorum\" or \"etcd\"; with VRRP, raise the target's priority above the holder's ({p}): on the target run `vipd priority {}`, and it takes over within its Master_Down_Interval",
                    p.saturating_add(1).clamp(2, 254)
                )));
                return;
            }
        };
        let wait = (wait + vip_core::Duration::from_secs(1)).min(cap);
        let target = match &to {
            None => None,
            Some(name) => {
                let Some((i, m)) = config
                    .members()
                    .iter()
                    .enumerate()
                    .find(|(_, m)| m.name.as_str() == name)
                else {
                    let names: Vec<&str> =
                        config.members().iter().map(|m| m.name.as_str()).collect();
                    let _ = reply.send(Err(format!(
                        "{name} is not a member (the members are {})",
                        names.join(", ")
                    )));
                    return;
                };
                if m.witness {
                    let _ = reply.send(Err(format!(
                        "{name} is a witness: it votes but never holds the VIP"
                    )));
                    return;
                }
                Some((i as u8, m.address))
            }
        };
        let Some(holder) = self.node.holder() else {
            let _ = reply.send(Err(
                "no node holds the VIP (quorum: no majority of the members is reachable; etcd: no node leads), so there is nothing to move".into(),
            ));
            return;
        };
        if target.is_some_and(|(_, a)| a == holder.address) {
            let _ = reply.send(Ok(format!(
                "{} holds the VIP already",
                to.unwrap_or_default()
            )));
            return;
        }
        if let (Some(name), Some(etcd)) = (&to, &self.etcd) {
            // An order to a node without a key would send every other node
            // back and leave nobody to lead: refused before it is written.
            let line = etcd
                .status
                .lock()
                .map(|s| s.line.clone())
                .unwrap_or_default();
            if !line.iter().any(|n| n == name) {
                let _ = reply.send(Err(format!(
                    "{name} has no election key in etcd (its vipd is stopped, unhealthy, or cannot reach etcd); the nodes in line are: {}",
                    line.join(", ")
                )));
                return;
            }
        }
        self.command(socket, Command::MoveTo(target.map(|(i, _)| i)));
        self.pending_move = Some(PendingMove {
            target: target.map(|(_, a)| a),
            from: holder.address,
            deadline: self.clock.now() + wait,
            reply,
        });
    }

    /// Answers the pending move if `holder` completes it.
    pub(super) fn finish_move(&mut self, holder: &Holder) {
        let done = self.pending_move.as_ref().is_some_and(|m| match m.target {
            Some(t) => holder.address == t,
            None => holder.address != m.from,
        });
        if let Some(m) = self.pending_move.take_if(|_| done) {
            let name = self
                .node
                .config()
                .member_name(holder.address)
                .map_or_else(|| holder.address.to_string(), |n| n.to_string());
            let term = holder
                .term
                .map_or_else(String::new, |t| format!(" (term {t})"));
            let _ = m.reply.send(Ok(format!("{name} holds the VIP{term}")));
        }
    }

    /// The pending move ran out of time.
    pub(super) fn move_timed_out(&mut self) {
        if let Some(m) = self.pending_move.take() {
            let who = m
                .target
                .and_then(|t| self.node.config().member_name(t).map(|n| n.to_string()))
                .unwrap_or_else(|| "no other member".into());
            let _ = m.reply.send(Err(format!(
                "{who} did not take the VIP over in time: it may be unhealthy, without link, in its restart wait, or not heard by the holder"
            )));
        }
    }
}
