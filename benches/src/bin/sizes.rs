//! Prints the size of the core's state, which lives inline (no heap).
//!
//! `cargo run -p benches --bin sizes`. The node must fit in 4096 bytes.

/// The largest `vip_core::Node` we accept: it lives on a task's stack or in a
/// static on small targets.
const NODE_BUDGET: usize = 4096;

fn main() {
    let node = std::mem::size_of::<vip_core::Node>();
    println!("size_of::<vip_core::Node>() = {node} bytes (budget {NODE_BUDGET})");
    println!(
        "size_of::<vip_core::FrameBuf>() = {} bytes",
        std::mem::size_of::<vip_core::FrameBuf>()
    );
    println!(
        "size_of::<vip_core::Output>() = {} bytes",
        std::mem::size_of::<vip_core::Output>()
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_fits_its_budget() {
        assert!(std::mem::size_of::<vip_core::Node>() <= super::NODE_BUDGET);
    }
}
