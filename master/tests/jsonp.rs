//! `?jsonp=` on the master's JSON endpoints: a JavaScript identifier or dotted path wraps
//! the JSON as `callback(...);`, anything else is refused with 400 (it would be echoed into
//! a script).

mod common;

use common::{http, master};

#[tokio::test]
async fn jsonp_callbacks_wrap_the_json_and_invalid_ones_are_400() {
    let m = master(&[]);
    let addr = m.address();
    let replies = tokio::task::spawn_blocking(move || {
        ["/state", "/flags", "/version"]
            .iter()
            .flat_map(|path| {
                [
                    http(addr, "GET", &format!("{path}?jsonp=angular.cb_0"), &[], b""),
                    http(addr, "GET", &format!("{path}?jsonp=alert(1)//"), &[], b""),
                ]
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for pair in replies.chunks(2) {
        let (ok, bad) = (&pair[0], &pair[1]);
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("Content-Type"), Some("text/javascript"));
        let text = String::from_utf8_lossy(&ok.body);
        let json = text
            .strip_prefix("angular.cb_0(")
            .and_then(|t| t.strip_suffix(");"))
            .unwrap_or_else(|| panic!("not wrapped: {text}"));
        serde_json::from_str::<serde_json::Value>(json).unwrap();
        assert_eq!(bad.status, 400);
    }
    m.shutdown();
}
