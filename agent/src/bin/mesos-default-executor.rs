//! `mesos-default-executor`: the default executor, launched by an agent for task groups
//! (LAUNCH_GROUP). It reads the agent's `MESOS_*` environment and speaks the v1 HTTP
//! executor API; flags such as `--launcher_dir` are accepted and ignored.

fn main() {
    libprocess::logging::init("MESOS_LOG", "info");
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("mesos-default-executor: the Mesos default executor (task groups). Run by an agent, which sets MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_SLAVE_PID, MESOS_AGENT_ENDPOINT, MESOS_SANDBOX, ...");
        return;
    }
    match mesos_executors::run_default_executor() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("mesos-default-executor: {e}");
            std::process::exit(1);
        }
    }
}
