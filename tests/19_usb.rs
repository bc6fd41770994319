//! USB on QEMU raspi3b: the DWC2 host driver, QEMU's own hub on root port 1 and `usb-net`
//! (CDC-ECM) behind it on port 1.1. The `test_usb` hook brings the bus up, reports the
//! device tree, and sends a broadcast ARP request for the user network's gateway through
//! the NIC; the reply must come back from the gateway's MAC. Without a USB device the hook
//! fails cleanly with "no device" and the kernel keeps serving.

use kingly_tests::Machine;
use serde_json::json;

/// The NIC's address on QEMU's side; usb-net reports it with the first byte replaced by
/// 0x40 as its iMACAddress string.
const QEMU_MAC: &str = "52:54:00:ab:cd:ef";
const GUEST_MAC: &str = "40:54:00:ab:cd:ef";

/// QEMU's user network answers for 10.0.2.2 with this MAC (52:55 + the IP address).
const GATEWAY_MAC: &str = "52:55:0a:00:02:02";

#[test]
fn usb_enumerates_the_hub_and_nic_and_exchanges_arp_with_the_gateway() {
    let device = format!("usb-net,netdev=n0,mac={QEMU_MAC}");
    let Some(mut vm) = Machine::boot_to_prompt_with("raspi3b", &["-netdev", "user,id=n0", "-device", &device]) else {
        return;
    };
    vm.initialize("usb-test");
    let reply = vm.call_tool("test_usb", json!({}));
    assert_eq!(reply["result"]["isError"], false, "{reply}");
    let out = &reply["result"]["structuredContent"];

    let devices = out["devices"].as_array().expect("device list");
    assert_eq!(devices.len(), 2, "QEMU's hub and usb-net: {out}");
    let (hub, nic) = (&devices[0], &devices[1]);
    assert_eq!(
        (hub["port"].as_str(), hub["vendor"].as_str(), hub["product"].as_str()),
        (Some("1"), Some("0409"), Some("55aa")),
        "{hub}"
    );
    assert_eq!(hub["class"], 9);
    assert_eq!(hub["hub"]["ports"], 8);
    assert_eq!(hub["hub"]["connected"], 0b10, "one device, on port 1: {hub}");
    assert_eq!(hub["product_name"], "QEMU USB Hub");
    assert_eq!(
        (nic["port"].as_str(), nic["vendor"].as_str(), nic["product"].as_str()),
        (Some("1.1"), Some("0525"), Some("a4a2")),
        "{nic}"
    );
    assert_eq!(nic["speed"], "full");
    assert_eq!(nic["configurations"], 2, "RNDIS and CDC-ECM");
    assert_eq!(out["failures"], json!([]));

    let function = &out["nic"];
    assert_eq!(function["configuration"], 1, "the CDC-ECM configuration, not RNDIS (2): {function}");
    assert_eq!(function["data_alternate"], 1);
    assert_eq!(function["max_segment"], 1514);
    assert_eq!(function["mac"], GUEST_MAC, "MAC from the iMACAddress string");
    assert_eq!(out["arp"]["gateway_mac"], GATEWAY_MAC, "{out}");
    assert!(
        out["counters"]["tx_frames"].as_u64() >= Some(1) && out["counters"]["rx_frames"].as_u64() >= Some(1),
        "{out}"
    );

    // The NIC keeps working (the receive transfer is re-armed after every frame), and a
    // burst of full-size frames all leave: transmit reports Busy while one is in flight.
    let again = vm.call_tool("test_usb", json!({"frames": 20}));
    assert_eq!(again["result"]["isError"], false, "{again}");
    let again = &again["result"]["structuredContent"];
    assert_eq!(again["arp"]["gateway_mac"], GATEWAY_MAC);
    assert_eq!(again["burst"]["frames"], 20, "{again}");
    assert_eq!(again["counters"]["dropped"], 0, "{again}");
    assert!(again["counters"]["tx_frames"].as_u64() >= Some(22), "{again}");
    vm.ping();

    // The shell renders the same tree.
    vm.send_line("test_usb");
    let text = vm.expect("kingly> ");
    assert!(text.contains("port 1.1 address 2 0525:a4a2"), "{text}");
    assert!(text.contains(&format!("ARP: 10.0.2.2 is at {GATEWAY_MAC}")), "{text}");
}

#[test]
fn usb_without_a_device_reports_no_device_and_the_kernel_keeps_serving() {
    let Some(mut vm) = Machine::boot_to_prompt("raspi3b") else { return };
    vm.initialize("usb-test");
    for _ in 0..2 {
        let reply = vm.call_tool("test_usb", json!({}));
        assert_eq!(reply["result"]["isError"], true, "{reply}");
        let text = reply["result"]["content"][0]["text"].as_str().unwrap_or_default();
        assert!(text.contains("no device"), "{text}");
        vm.ping();
    }
    let reply = vm.call_tool("memory_stats", json!({}));
    assert_eq!(reply["result"]["isError"], false, "{reply}");
}
