//! `mesos-executor`: the command executor, launched by an agent for command tasks. It reads
//! the agent's `MESOS_*` environment; flags such as `--launcher_dir` are accepted and
//! ignored.

fn main() {
    libprocess::logging::init("MESOS_LOG", "info");
    if std::env::args().any(|a| a == "--help" || a == "-h") {
        println!("mesos-executor: the Mesos command executor. Run by an agent, which sets MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID, MESOS_SLAVE_PID, MESOS_DIRECTORY, ...");
        return;
    }
    match mesos_executors::run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("mesos-executor: {e}");
            std::process::exit(1);
        }
    }
}
