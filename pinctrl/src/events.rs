//! `trigger_event` (23.03's pinctrl_handle_event / pinctrl_handle_empty_lb_backends_opts)
//! and `bind_vport` (pinctrl_handle_bind_vport): userdata in, a Southbound intent out.
//! Sans-IO; the userdata is untrusted (23.03 aborts on an unknown option code; here it is
//! refused).

use std::collections::BTreeMap;

use shared::pinctrl_link::IntentKind;

use crate::handlers::Refused;

/// OVN_EVENT_EMPTY_LB_BACKENDS and its option codes (lib/ovn-l7.h).
pub const EVENT_EMPTY_LB_BACKENDS: u32 = 0;
pub const EMPTY_LB_VIP: u16 = 1;
pub const EMPTY_LB_PROTOCOL: u16 = 2;
pub const EMPTY_LB_LOAD_BALANCER: u16 = 3;

/// The Controller_Event this `trigger_event` payload (after the action header) asks for.
pub fn trigger_event(payload: &[u8]) -> Result<IntentKind, Refused> {
    let (ev, mut rest) = match payload {
        [a, b, c, d, rest @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]), rest),
        _ => return Err(Refused("event not present in the userdata")),
    };
    if ev != EVENT_EMPTY_LB_BACKENDS {
        return Err(Refused("unknown controller event"));
    }
    let mut info = BTreeMap::new();
    while !rest.is_empty() {
        let [c0, c1, s0, s1, tail @ ..] = rest else { return Err(Refused("truncated event option")) };
        let size = usize::from(u16::from_be_bytes([*s0, *s1]));
        let value = tail.get(..size).ok_or(Refused("truncated event option"))?;
        let key = match u16::from_be_bytes([*c0, *c1]) {
            EMPTY_LB_VIP => "vip",
            EMPTY_LB_PROTOCOL => "protocol",
            EMPTY_LB_LOAD_BALANCER => "load_balancer",
            _ => return Err(Refused("unknown empty_lb_backends option")),
        };
        let value = std::str::from_utf8(value).map_err(|_| Refused("event option is not UTF-8"))?;
        info.insert(key.to_string(), value.to_string());
        rest = tail.get(size..).unwrap_or_default();
    }
    if info.len() != 3 {
        return Err(Refused("missing lb parameters in userdata"));
    }
    Ok(IntentKind::ControllerEvent { event_type: "empty_lb_backends".into(), info })
}

/// `bind_vport`: the virtual port's key from the payload; the parent is the packet's
/// logical inport.
pub fn bind_vport(payload: &[u8], datapath_key: u32, parent_key: u32) -> Result<IntentKind, Refused> {
    let [a, b, c, d, ..] = payload else { return Err(Refused("bind_vport: no virtual port key")) };
    Ok(IntentKind::BindVport { datapath_key, vport_key: u32::from_be_bytes([*a, *b, *c, *d]), parent_key })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// The payload encode_TRIGGER_EVENT writes for an empty_lb_backends event.
    pub fn empty_lb(vip: &str, protocol: &str, lb: &str) -> Vec<u8> {
        let mut v = EVENT_EMPTY_LB_BACKENDS.to_be_bytes().to_vec();
        for (code, s) in [(EMPTY_LB_VIP, vip), (EMPTY_LB_PROTOCOL, protocol), (EMPTY_LB_LOAD_BALANCER, lb)] {
            v.extend_from_slice(&code.to_be_bytes());
            v.extend_from_slice(&(s.len() as u16).to_be_bytes());
            v.extend_from_slice(s.as_bytes());
        }
        v
    }

    #[test]
    fn empty_lb_backends_event() {
        let p = empty_lb("10.0.0.10:80", "tcp", "c0ffee00-0000-0000-0000-000000000001");
        let IntentKind::ControllerEvent { event_type, info } = trigger_event(&p).unwrap() else { panic!() };
        assert_eq!(event_type, "empty_lb_backends");
        assert_eq!(info["vip"], "10.0.0.10:80");
        assert_eq!(info["protocol"], "tcp");
        assert_eq!(info["load_balancer"], "c0ffee00-0000-0000-0000-000000000001");
        for n in 0..p.len() {
            assert!(trigger_event(&p[..n]).is_err());
        }
        let mut bad = p.clone();
        bad[5] = 9;
        assert!(trigger_event(&bad).is_err());
        let mut other = p;
        other[3] = 1;
        assert!(trigger_event(&other).is_err());
    }

    #[test]
    fn bind_vport_takes_the_key_and_the_inport() {
        assert_eq!(
            bind_vport(&[0, 0, 0, 7], 3, 2),
            Ok(IntentKind::BindVport { datapath_key: 3, vport_key: 7, parent_key: 2 })
        );
        assert!(bind_vport(&[0, 0, 7], 3, 2).is_err());
    }
}
