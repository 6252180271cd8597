//! Prints the size of the core's state, which lives inline (no heap).
//!
//! `cargo run -p benches --bin sizes`. The node must fit in
//! `vip_core::node::NODE_BUDGET` bytes.

use vip_core::node::NODE_BUDGET;

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
