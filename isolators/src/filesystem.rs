//! `filesystem/posix`: the sandbox belongs to the user the executor runs as
//! (`--switch_user`), so the executor can write it after dropping privileges.
//! Nothing to clean up: the sandbox outlives the container (the agent garbage-collects it).

use std::collections::HashSet;
use std::path::Path;

use mesos_proto::mesos::{ExecutorInfo, Resource, ResourceStatistics};
use nix::unistd::{chown, User};

use crate::isolator::{now_secs, ready, sorted, Isolator, IsolatorError, IsolatorFuture};
use crate::protocol::{ContainerId, ContainerState, LaunchInfo, Limitation};

/// The `filesystem/posix` isolator.
#[derive(Debug, Default)]
pub struct PosixFilesystem {
    containers: HashSet<ContainerId>,
}

/// Gives `dir` and everything below it (not following symlinks) to `user`.
pub fn chown_sandbox(dir: &Path, user: &str) -> Result<(), IsolatorError> {
    let found = User::from_name(user)
        .map_err(|e| IsolatorError::failed(format!("cannot look up user '{user}': {e}")))?
        .ok_or_else(|| IsolatorError::failed(format!("user '{user}' does not exist")))?;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| IsolatorError::failed(format!("cannot stat {}: {e}", path.display())))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        chown(&path, Some(found.uid), Some(found.gid)).map_err(|e| {
            IsolatorError::failed(format!("cannot chown {} to '{user}': {e}", path.display()))
        })?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path).map_err(|e| {
                IsolatorError::failed(format!("cannot list {}: {e}", path.display()))
            })?;
            stack.extend(entries.filter_map(Result::ok).map(|e| e.path()));
        }
    }
    tracing::info!(sandbox = %dir.display(), user, "sandbox ownership changed");
    Ok(())
}

impl Isolator for PosixFilesystem {
    fn name(&self) -> &str {
        "filesystem/posix"
    }
    fn containers(&self) -> Vec<ContainerId> {
        sorted(self.containers.iter())
    }

    fn recover(&mut self, states: Vec<ContainerState>, _: Vec<ContainerId>) -> IsolatorFuture<()> {
        self.containers
            .extend(states.into_iter().map(|s| s.container_id));
        ready(Ok(()))
    }

    fn prepare(
        &mut self,
        c: &ContainerId,
        _: &ExecutorInfo,
        directory: &Path,
        user: Option<&str>,
    ) -> IsolatorFuture<Option<LaunchInfo>> {
        if self.containers.contains(c) {
            return ready(Err(IsolatorError::AlreadyPrepared(c.clone())));
        }
        if let Some(user) = user {
            if let Err(e) = chown_sandbox(directory, user) {
                return ready(Err(e));
            }
        }
        self.containers.insert(c.clone());
        ready(Ok(None))
    }

    fn isolate(&mut self, c: &ContainerId, _: u32) -> IsolatorFuture<()> {
        ready(self.known(c))
    }

    fn watch(&mut self, c: &ContainerId) -> IsolatorFuture<Limitation> {
        match self.known(c) {
            Ok(()) => Box::pin(futures::future::pending()),
            Err(e) => ready(Err(e)),
        }
    }

    fn update(&mut self, c: &ContainerId, _: &[Resource]) -> IsolatorFuture<()> {
        ready(self.known(c))
    }

    fn usage(&mut self, c: &ContainerId) -> IsolatorFuture<ResourceStatistics> {
        ready(self.known(c).map(|()| ResourceStatistics {
            timestamp: now_secs(),
            ..Default::default()
        }))
    }

    fn cleanup(&mut self, c: &ContainerId) -> IsolatorFuture<()> {
        self.containers.remove(c);
        ready(Ok(()))
    }
}

impl PosixFilesystem {
    fn known(&self, c: &ContainerId) -> Result<(), IsolatorError> {
        if self.containers.contains(c) {
            Ok(())
        } else {
            Err(IsolatorError::UnknownContainer(c.clone()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn the_sandbox_and_its_contents_are_given_to_the_user() {
        let Ok(Some(nobody)) = User::from_name("nobody") else {
            eprintln!(
                "SKIPPED the_sandbox_and_its_contents_are_given_to_the_user: no user 'nobody'"
            );
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/file"), "x").expect("write");
        chown_sandbox(dir.path(), "nobody").expect("chown");
        for p in [
            dir.path().to_path_buf(),
            dir.path().join("sub"),
            dir.path().join("sub/file"),
        ] {
            assert_eq!(
                std::fs::metadata(&p).expect("stat").uid(),
                nobody.uid.as_raw(),
                "{}",
                p.display()
            );
        }
    }

    #[test]
    fn an_unknown_user_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = chown_sandbox(dir.path(), "no-such-user-mesos").unwrap_err();
        assert!(
            err.to_string()
                .contains("'no-such-user-mesos' does not exist"),
            "{err}"
        );
    }
}
