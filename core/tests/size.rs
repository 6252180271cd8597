//! The node stays small and heap-free: it must fit an MCU's budget.

#[test]
fn node_fits_in_4_kib() {
    let size = core::mem::size_of::<vip_core::Node>();
    println!("size_of::<Node>() = {size} bytes");
    assert!(size <= 4096, "Node is {size} bytes");
}
