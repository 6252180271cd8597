#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| vip_core::fuzzing::etcd_node(data));
