//! The settings file on the card's boot partition, `kingly.txt`:
//!
//! ```text
//! # Kingly OS settings: key = value, one per line; '#' starts a comment.
//! model = model.gguf          # model file on the card to load at boot ("none": do not load)
//! context = 512               # context length (tokens) the model tools allocate, 16-8192
//! baud = 115200               # console baud rate
//! net.mode = dhcp             # dhcp, static, or server (a cable to one computer: serve it an address)
//! net.address = 192.168.1.50/24   # static address and prefix length
//! net.gateway = 192.168.1.1
//! net.port = 80               # MCP over HTTP port
//! net.token = ...             # bearer token for MCP over HTTP (16-128 of A-Z a-z 0-9 - _ .)
//! net.read_token = ...        # a second token that may only read (read-only tools, resources)
//! net.usb = off               # on: look for a USB CDC-ECM network adapter at boot (Pi 3)
//! net.hostname = kingly       # mDNS name: http://kingly.local/mcp
//! net.mdns = on               # answer mDNS/DNS-SD on every network path
//! usb.gadget = on             # the USB device port (Zero 2 W data port, Pi 4 USB-C): console + network
//! usb.address = 10.42.0.1/24  # the board's address on that cable; the host is given the next ones
//! ```
//!
//! The file is read once at boot. A line that cannot be understood (unknown key, value out of
//! range, no `=`) is reported as a [`Warning`] naming its line, and that setting keeps its
//! default: a typo never stops the machine from booting.

use alloc::{format, string::String, vec::Vec};

/// The file's name on the boot partition (8.3, so FAT tools agree on it).
pub const FILE_NAME: &str = "kingly.txt";

/// Longest file accepted (larger files are ignored with a warning).
pub const MAX_FILE_BYTES: usize = 16 * 1024;

/// Console baud rates the PL011 is set up for.
pub const BAUD_RATES: [u32; 8] = [9600, 19200, 38400, 57600, 115_200, 230_400, 460_800, 921_600];

/// IPv4 network configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetMode {
    /// Ask a DHCP server (falls back to the static settings if none answers).
    Dhcp,
    /// Use `net.address` and `net.gateway`.
    Static,
    /// Use `net.address` and be the link's DHCP server: for a cable straight to one
    /// computer (the computer is given the next four addresses).
    Server,
}

/// Every setting, with its default when absent or invalid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Model file to load at boot; `None` = do not load one.
    pub model: Option<String>,
    /// Context length for the model tools.
    pub context: usize,
    /// Console baud rate.
    pub baud: u32,
    /// DHCP or static.
    pub net_mode: NetMode,
    /// Static address and prefix length.
    pub net_address: Option<([u8; 4], u8)>,
    /// Static gateway.
    pub net_gateway: Option<[u8; 4]>,
    /// HTTP port.
    pub net_port: u16,
    /// Bearer token (control role); `None` = generate one at boot.
    pub net_token: Option<String>,
    /// Bearer token with the read role; `None` = generate one at boot.
    pub net_read_token: Option<String>,
    /// Bring up USB networking (a CDC-ECM adapter) at boot; off by default because probing
    /// an empty USB port takes half a second.
    pub net_usb: bool,
    /// The mDNS host name (`<name>.local`), checked like a DNS label.
    pub net_hostname: String,
    /// Answer mDNS and DNS-SD queries.
    pub net_mdns: bool,
    /// Run the USB device port as a gadget (console and network over one cable) on boards
    /// that have one.
    pub usb_gadget: bool,
    /// The board's address and prefix on the gadget's link (a DHCP server there gives the
    /// host the following addresses).
    pub usb_address: ([u8; 4], u8),
    /// The MQTT 5 broker to serve MCP over (address, port); `None` = no MQTT.
    pub mqtt_broker: Option<([u8; 4], u16)>,
    /// The broker's user name.
    pub mqtt_username: Option<String>,
    /// The broker's password.
    pub mqtt_password: Option<String>,
    /// The MCP server name on the broker (`/`-separated levels); `None` = `kingly/<hostname>`.
    pub mqtt_name: Option<String>,
    /// MQTT clients may call tools that change the machine (the control role); off = the
    /// read role.
    pub mqtt_control: bool,
}

/// The gadget link's default address: 10.42.0.1/24.
pub const USB_ADDRESS: ([u8; 4], u8) = ([10, 42, 0, 1], 24);

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: Some("model.gguf".into()),
            context: 512,
            baud: 115_200,
            net_mode: NetMode::Dhcp,
            net_address: None,
            net_gateway: None,
            net_port: 80,
            net_token: None,
            net_read_token: None,
            net_usb: false,
            net_hostname: "kingly".into(),
            net_mdns: true,
            usb_gadget: true,
            usb_address: USB_ADDRESS,
            mqtt_broker: None,
            mqtt_username: None,
            mqtt_password: None,
            mqtt_name: None,
            mqtt_control: false,
        }
    }
}

/// A line that was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line number (0 for the whole file).
    pub line: usize,
    /// What was wrong and what is used instead.
    pub message: String,
}

impl core::fmt::Display for Warning {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.line == 0 {
            write!(f, "{FILE_NAME}: {}", self.message)
        } else {
            write!(f, "{FILE_NAME} line {}: {}", self.line, self.message)
        }
    }
}

/// Parses `a.b.c.d` or `a.b.c.d:port` (port 1-65535), `default_port` when it has none.
pub fn parse_endpoint(text: &str, default_port: u16) -> Option<([u8; 4], u16)> {
    match text.split_once(':') {
        None => Some((parse_ipv4(text)?, default_port)),
        Some((address, port)) => {
            let port = port.parse::<u16>().ok().filter(|p| *p > 0 && !port.starts_with('+'))?;
            Some((parse_ipv4(address)?, port))
        }
    }
}

/// `text` if it is 1-`max` printable ASCII characters without spaces at its ends.
fn printable(text: &str, max: usize) -> Option<String> {
    (!text.is_empty() && text.len() <= max && text.bytes().all(|b| (0x21..0x7f).contains(&b) || b == b' '))
        .then(|| text.into())
}

/// Parses a dotted IPv4 address.
pub fn parse_ipv4(text: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = text.split('.');
    for byte in &mut out {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *byte = part.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

fn parse_cidr(text: &str) -> Option<([u8; 4], u8)> {
    let (address, prefix) = text.split_once('/')?;
    let prefix: u8 = prefix.parse().ok().filter(|p| (1..=32).contains(p))?;
    Some((parse_ipv4(address)?, prefix))
}

fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-+ ".contains(c))
}

/// What a DHCP server's own address must allow: the pool is the next four addresses.
const POOL_RULE: &str = "must be an IPv4 address with a prefix length of at most 29, e.g. 10.42.0.1/24, whose last \
                         byte is 1-249 (the computer on the cable gets the next four)";

fn serves_a_pool((address, prefix): ([u8; 4], u8)) -> bool {
    prefix <= 29 && (1..250).contains(&address[3])
}

fn switch(value: &str) -> Option<bool> {
    match value {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

fn valid_token(token: &str) -> bool {
    (16..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Parses the file's bytes. Never fails: problems become warnings and defaults.
pub fn parse(bytes: &[u8]) -> (Settings, Vec<Warning>) {
    let mut settings = Settings::default();
    let mut warnings = Vec::new();
    if bytes.len() > MAX_FILE_BYTES {
        warnings
            .push(Warning { line: 0, message: format!("larger than {MAX_FILE_BYTES} bytes; ignored, using defaults") });
        return (settings, warnings);
    }
    let Ok(text) = core::str::from_utf8(bytes) else {
        warnings.push(Warning { line: 0, message: "not UTF-8 text; ignored, using defaults".into() });
        return (settings, warnings);
    };
    for (number, raw) in text.lines().enumerate() {
        let line = number + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let Some((key, value)) = content.split_once('=') else {
            warnings.push(Warning { line, message: format!("expected 'key = value', got '{content}'") });
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let mut bad =
            |what: &str| warnings.push(Warning { line, message: format!("{key}: {what}; using the default") });
        match key {
            "model" => {
                if value.eq_ignore_ascii_case("none") {
                    settings.model = None;
                } else if valid_file_name(value) {
                    settings.model = Some(value.into());
                } else {
                    bad("not a file name on the boot partition");
                }
            }
            "context" => match value.parse::<usize>() {
                Ok(n) if (16..=8192).contains(&n) => settings.context = n,
                _ => bad("must be a whole number from 16 to 8192"),
            },
            "baud" => match value.parse::<u32>() {
                Ok(n) if BAUD_RATES.contains(&n) => settings.baud = n,
                _ => bad("must be one of 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600"),
            },
            "net.mode" => match value {
                "dhcp" => settings.net_mode = NetMode::Dhcp,
                "static" => settings.net_mode = NetMode::Static,
                "server" => settings.net_mode = NetMode::Server,
                _ => bad("must be 'dhcp', 'static' or 'server'"),
            },
            "net.address" => match parse_cidr(value) {
                Some(cidr) => settings.net_address = Some(cidr),
                None => bad("must be an IPv4 address with a prefix length, e.g. 192.168.1.50/24"),
            },
            "net.gateway" => match parse_ipv4(value) {
                Some(address) => settings.net_gateway = Some(address),
                None => bad("must be an IPv4 address"),
            },
            "net.port" => match value.parse::<u16>() {
                Ok(port) if port > 0 => settings.net_port = port,
                _ => bad("must be a port number from 1 to 65535"),
            },
            "net.token" => {
                if valid_token(value) {
                    settings.net_token = Some(value.into());
                } else {
                    bad("must be 16-128 characters of A-Z a-z 0-9 - _ .");
                }
            }
            "net.read_token" => {
                if valid_token(value) {
                    settings.net_read_token = Some(value.into());
                } else {
                    bad("must be 16-128 characters of A-Z a-z 0-9 - _ .");
                }
            }
            "net.usb" => match switch(value) {
                Some(on) => settings.net_usb = on,
                None => bad("must be 'on' or 'off'"),
            },
            "net.mdns" => match switch(value) {
                Some(on) => settings.net_mdns = on,
                None => bad("must be 'on' or 'off'"),
            },
            "usb.gadget" => match switch(value) {
                Some(on) => settings.usb_gadget = on,
                None => bad("must be 'on' or 'off'"),
            },
            "net.hostname" => match crate::mdns::check_host_name(value) {
                Ok(name) => settings.net_hostname = name,
                Err(why) => bad(&format!("{why}")),
            },
            "usb.address" => match parse_cidr(value).filter(|&cidr| serves_a_pool(cidr)) {
                Some(cidr) => settings.usb_address = cidr,
                None => bad(POOL_RULE),
            },
            "mqtt.broker" => match parse_endpoint(value, crate::mqtt::PORT) {
                Some(endpoint) => settings.mqtt_broker = Some(endpoint),
                None => bad("must be an IPv4 address with an optional port, e.g. 192.168.1.2:1883"),
            },
            "mqtt.username" => match printable(value, 256) {
                Some(text) => settings.mqtt_username = Some(text),
                None => bad("must be 1-256 printable characters"),
            },
            "mqtt.password" => match printable(value, 256) {
                Some(text) => settings.mqtt_password = Some(text),
                None => bad("must be 1-256 printable characters"),
            },
            "mqtt.name" => {
                let levels_ok = value.len() <= 200
                    && value.split('/').all(|level| {
                        !level.is_empty() && level.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                    });
                if levels_ok {
                    settings.mqtt_name = Some(value.into());
                } else {
                    bad("must be '/'-separated names of A-Z a-z 0-9 - _ . (e.g. greenhouse/shed)");
                }
            }
            "mqtt.role" => match value {
                "read" => settings.mqtt_control = false,
                "control" => settings.mqtt_control = true,
                _ => bad("must be 'read' or 'control'"),
            },
            _ => warnings.push(Warning { line, message: format!("unknown setting '{key}' ignored") }),
        }
    }
    if settings.net_mode == NetMode::Static && settings.net_address.is_none() {
        warnings.push(Warning { line: 0, message: "net.mode = static without net.address; using DHCP".into() });
        settings.net_mode = NetMode::Dhcp;
    }
    if settings.net_mode == NetMode::Server && !settings.net_address.is_some_and(serves_a_pool) {
        warnings.push(Warning { line: 0, message: format!("net.mode = server: net.address {POOL_RULE}; using DHCP") });
        settings.net_mode = NetMode::Dhcp;
    }
    (settings, warnings)
}

/// The settings file the image builder writes: every key, commented, with `model` set.
/// The settings file the image builder writes: `model` to load at boot (or none), USB
/// networking on where the board's Ethernet is on USB (the Pi 3 B).
pub fn template(model: Option<&str>, usb_network: bool) -> String {
    format!(
        "# Kingly OS settings: key = value, one per line; '#' starts a comment.\n\
         # Invalid lines are reported on the console at boot and their defaults used.\n\
         model = {}\n\
         context = 512\n\
         baud = 115200\n\
         # Network (MCP over HTTP): dhcp, or static with net.address and net.gateway.\n\
         net.mode = dhcp\n\
         #net.address = 192.168.1.50/24\n\
         #net.gateway = 192.168.1.1\n\
         net.port = 80\n\
         # Bearer token for MCP over HTTP; without one a token is generated at boot and\n\
         # shown on the serial console.\n\
         #net.token = change-me-to-a-long-random-string\n\
         # A second token that may only read (read-only tools, resources, prompts).\n\
         #net.read_token = another-long-random-string\n\
         # USB networking: the Pi 3 B's own Ethernet (LAN9514) or a CDC-ECM USB adapter.\n\
         # Bringing USB up takes about half a second at first use.\n\
         net.usb = {}\n\
         # mDNS: the board answers as <hostname>.local and announces its MCP endpoint\n\
         # (DNS-SD _mcp._tcp and _http._tcp, path /mcp) on every network path.\n\
         net.hostname = kingly\n\
         net.mdns = on\n\
         # One cable: the USB device port (Pi Zero 2 W: the data port marked USB; Pi 4: the\n\
         # USB-C power port) is a serial console and a network adapter for the computer it\n\
         # is plugged into, which gets an address by DHCP from the board.\n\
         usb.gadget = on\n\
         usb.address = 10.42.0.1/24\n\
         # MCP over MQTT 5: serve the same tools through a broker (a fleet behind one\n\
         # endpoint: cargo xtask fleet). Its credentials; the server name clients see\n\
         # (default kingly/<hostname>); read = read-only tools, control = everything.\n\
         #mqtt.broker = 192.168.1.2:1883\n\
         #mqtt.username = board\n\
         #mqtt.password = change-me\n\
         #mqtt.name = greenhouse/shed\n\
         mqtt.role = read\n",
        model.unwrap_or("none"),
        if usb_network { "on" } else { "off" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn a_full_file_parses() {
        let text = "# comment\nmodel = tiny.gguf\ncontext=1024\nbaud = 921600 # fast\nnet.mode = static\n\
                    net.address = 10.0.2.15/24\nnet.gateway = 10.0.2.2\nnet.port = 8080\nnet.token = abcdefghijklmnop\nnet.read_token = read-only-token-123\nnet.usb = on\n\
                    net.hostname = Shed\nnet.mdns = off\nusb.gadget = no\nusb.address = 192.168.7.1/24\n";
        let (s, warnings) = parse(text.as_bytes());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s.model.as_deref(), Some("tiny.gguf"));
        assert_eq!((s.context, s.baud, s.net_port), (1024, 921_600, 8080));
        assert_eq!(s.net_mode, NetMode::Static);
        assert_eq!(s.net_address, Some(([10, 0, 2, 15], 24)));
        assert_eq!(s.net_gateway, Some([10, 0, 2, 2]));
        assert_eq!(s.net_token.as_deref(), Some("abcdefghijklmnop"));
        assert_eq!(s.net_read_token.as_deref(), Some("read-only-token-123"));
        assert!(s.net_usb);
        assert_eq!(s.net_hostname, "shed");
        assert!(!s.net_mdns && !s.usb_gadget);
        assert_eq!(s.usb_address, ([192, 168, 7, 1], 24));
        let (s, warnings) =
            parse(b"net.hostname = shed.local\nusb.address = 10.0.0.1/31\nusb.address = 10.0.0.254/24\n");
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert_eq!((s.net_hostname.as_str(), s.usb_address), ("kingly", USB_ADDRESS));
        let (s, warnings) = parse(b"net.mode = server\nnet.address = 10.77.0.1/24\n");
        assert!(warnings.is_empty() && s.net_mode == NetMode::Server, "{warnings:?}");
        let (s, warnings) = parse(b"net.mode = server\nnet.address = 10.77.0.1/30\n");
        assert_eq!((warnings.len(), s.net_mode), (1, NetMode::Dhcp), "{warnings:?}");
    }

    #[test]
    fn bad_lines_warn_and_keep_defaults() {
        let text = "context = 99999\nbaud = 1234\nmodel = ../../etc\nwhat is this\ncolour = blue\nnet.address = 300.1.1.1/24\n\
                    net.mode = static\nnet.token = short\nnet.port = 0\n";
        let (s, warnings) = parse(text.as_bytes());
        assert_eq!(s, Settings::default());
        let lines: Vec<usize> = warnings.iter().map(|w| w.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 8, 9, 0], "{warnings:?}");
        assert!(warnings[0].to_string().starts_with("kingly.txt line 1: context:"));
        let (s, warnings) = parse(b"model = none\n");
        assert!(warnings.is_empty());
        assert_eq!(s.model, None);
    }

    #[test]
    fn binary_or_huge_files_are_ignored() {
        let (s, warnings) = parse(&[0xff, 0xfe, 0x00]);
        assert_eq!(s, Settings::default());
        assert_eq!(warnings.len(), 1);
        let (_, warnings) = parse(&[b'#'; MAX_FILE_BYTES + 1]);
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn the_template_parses_cleanly() {
        let (s, warnings) = parse(template(Some("model.gguf"), false).as_bytes());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s, Settings::default());
        assert_eq!(parse(template(None, false).as_bytes()).0.model, None);
        let (s, warnings) = parse(template(None, true).as_bytes());
        assert!(warnings.is_empty() && s.net_usb, "{warnings:?}");
    }

    #[test]
    fn mqtt_settings() {
        let text = "mqtt.broker = 10.0.2.2:11883\nmqtt.username = board one\nmqtt.password = s3cret!\n\
                    mqtt.name = greenhouse/shed-1\nmqtt.role = control\n";
        let (s, warnings) = parse(text.as_bytes());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(s.mqtt_broker, Some(([10, 0, 2, 2], 11883)));
        assert_eq!((s.mqtt_username.as_deref(), s.mqtt_password.as_deref()), (Some("board one"), Some("s3cret!")));
        assert_eq!((s.mqtt_name.as_deref(), s.mqtt_control), (Some("greenhouse/shed-1"), true));
        assert_eq!(parse(b"mqtt.broker = 10.0.0.1\n").0.mqtt_broker, Some(([10, 0, 0, 1], 1883)));
        let bad = "mqtt.broker = 10.0.0.1:0\nmqtt.broker = host:1883\nmqtt.broker = 1.2.3.4:+5\nmqtt.name = a/#\n\
                   mqtt.name = /a\nmqtt.name = a//b\nmqtt.role = admin\nmqtt.username = \u{1}\n";
        let (s, warnings) = parse(bad.as_bytes());
        assert_eq!((warnings.len(), s), (8, Settings::default()), "{warnings:?}");
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_ipv4("192.168.0.1"), Some([192, 168, 0, 1]));
        for bad in ["1.2.3", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1..2.3", "", "01234.1.1.1"] {
            assert_eq!(parse_ipv4(bad), None, "{bad}");
        }
    }

    #[test]
    fn mutated_files_never_panic() {
        let base = template(Some("model.gguf"), true).into_bytes();
        let mut rng = testkit::Rng::new(0x9e37_79b9);
        for _ in 0..5_000 {
            let mut m = base.clone();
            for _ in 0..6 {
                let at = rng.below(m.len());
                m[at] = rng.byte();
            }
            let _ = parse(&m);
        }
    }
}
