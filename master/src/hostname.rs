//! The master's hostname when `--hostname` is not given. Genuine masters look their IP up
//! (`--hostname_lookup`, on by default: a master on 127.0.0.1 calls itself "localhost") and
//! use the IP itself only with `--hostname_lookup=false`. The lookup here reads the hosts
//! file, which the system resolver consults first; without an entry it falls back to the IP.

use std::net::Ipv4Addr;

/// The hostname to report for a master at `ip`.
pub fn for_ip(ip: Ipv4Addr, lookup: bool) -> String {
    lookup
        .then(|| {
            std::fs::read_to_string("/etc/hosts")
                .ok()
                .and_then(|text| hosts_name(&text, ip))
        })
        .flatten()
        .unwrap_or_else(|| ip.to_string())
}

/// The canonical name a hosts file gives `ip`: the first name of the first line for it.
pub fn hosts_name(text: &str, ip: Ipv4Addr) -> Option<String> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let address: Ipv4Addr = fields.next()?.parse().ok()?;
            (address == ip)
                .then(|| fields.next().map(String::from))
                .flatten()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_name_of_the_first_matching_hosts_line_is_the_hostname() {
        let hosts = "# comment 127.0.0.1 nope\n::1 localhost6\n127.0.0.1\tlocalhost loopy\n127.0.0.1 vm\n10.0.0.5 m1.example m1 # master\n";
        let lo = Ipv4Addr::LOCALHOST;
        assert_eq!(hosts_name(hosts, lo).as_deref(), Some("localhost"));
        let m1 = Ipv4Addr::new(10, 0, 0, 5);
        assert_eq!(hosts_name(hosts, m1).as_deref(), Some("m1.example"));
        assert_eq!(hosts_name(hosts, Ipv4Addr::new(10, 0, 0, 6)), None);
        assert_eq!(hosts_name("127.0.0.1\n", lo), None);
    }

    #[test]
    fn without_lookup_the_hostname_is_the_ip() {
        assert_eq!(for_ip(Ipv4Addr::new(10, 9, 8, 7), false), "10.9.8.7");
        assert_eq!(for_ip(Ipv4Addr::new(203, 0, 113, 77), true), "203.0.113.77");
    }
}
