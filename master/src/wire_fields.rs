//! Values genuine Mesos puts in particular wire fields, kept in one place: the string of
//! the empty UPID in `pid` fields that name nobody, whether a launch needs a new executor
//! (`launch_executor`), and the wording of updates for launches on invalid offers.

use libprocess::Upid;

/// Whether the master knows executor `executor_id` of the framework on this agent.
pub fn agent_has_executor(
    agent: &crate::agents::Agent,
    framework_id: &str,
    executor_id: &str,
) -> bool {
    agent
        .executors
        .get(framework_id)
        .is_some_and(|e| e.contains_key(executor_id))
}

/// The `pid` field naming a framework in messages: its UPID, or for HTTP frameworks the
/// empty UPID rendered as genuine libprocess renders it (`@0.0.0.0:0`).
pub fn framework_pid(pid: Option<&Upid>) -> String {
    pid.map(|p| p.to_string())
        .unwrap_or_else(|| NO_PID.to_string())
}

/// The empty UPID as a string: what genuine Mesos puts in `pid` fields that name nobody
/// (master-generated status updates, HTTP frameworks).
pub const NO_PID: &str = "@0.0.0.0:0";

/// The message of the update for a task launched with invalid offers (genuine wording).
pub fn invalid_offers_message(error: &str) -> String {
    format!("Task launched with invalid offers: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_framework_pid_is_the_empty_upid_as_libprocess_renders_it() {
        assert_eq!(framework_pid(None), "@0.0.0.0:0");
        assert!(Upid::parse(&framework_pid(None)).is_ok_and(|p| p.is_none()));
        let driver = Upid::parse("scheduler-1@127.0.0.1:5000").ok();
        assert_eq!(framework_pid(driver.as_ref()), "scheduler-1@127.0.0.1:5000");
    }
}
