//! The node stays small and heap-free: it must fit an MCU's budget.

use vip_core::node::NODE_BUDGET;

#[test]
fn node_fits_its_budget() {
    let size = core::mem::size_of::<vip_core::Node>();
    println!("size_of::<Node>() = {size} bytes (budget {NODE_BUDGET})");
    assert!(size <= NODE_BUDGET, "Node is {size} bytes");
}
