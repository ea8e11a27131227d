//! The work directory layout (like the genuine agent's) and path confinement for `/files`.
//!
//! `<work_dir>/slaves/<agent>/frameworks/<fw>/executors/<ex>/runs/<container>` is a
//! sandbox; `runs/latest` links to the newest run.

use std::path::{Component, Path, PathBuf};

/// `<work_dir>/slaves/<agent_id>`.
pub fn agent_dir(work_dir: &Path, agent_id: &str) -> PathBuf {
    work_dir.join("slaves").join(agent_id)
}

/// `.../executors/<executor_id>/runs`.
pub fn runs_dir(work_dir: &Path, agent_id: &str, framework_id: &str, executor_id: &str) -> PathBuf {
    agent_dir(work_dir, agent_id)
        .join("frameworks")
        .join(framework_id)
        .join("executors")
        .join(executor_id)
        .join("runs")
}

/// The sandbox of one executor run.
pub fn sandbox_dir(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> PathBuf {
    runs_dir(work_dir, agent_id, framework_id, executor_id).join(container_id)
}

/// Why a sandbox could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("id '{0}' cannot be used as a path component")]
    BadId(String),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Ids become path components; refuse the ones that would escape or nest.
pub fn check_id(id: &str) -> Result<(), PathError> {
    if id.is_empty() || id == "." || id == ".." || id.contains('/') || id.contains('\0') {
        return Err(PathError::BadId(id.to_string()));
    }
    Ok(())
}

/// Creates a run's sandbox and points `runs/latest` at it.
pub fn create_sandbox(
    work_dir: &Path,
    agent_id: &str,
    framework_id: &str,
    executor_id: &str,
    container_id: &str,
) -> Result<PathBuf, PathError> {
    for id in [agent_id, framework_id, executor_id, container_id] {
        check_id(id)?;
    }
    let dir = sandbox_dir(work_dir, agent_id, framework_id, executor_id, container_id);
    std::fs::create_dir_all(&dir).map_err(|source| PathError::Create {
        path: dir.clone(),
        source,
    })?;
    let latest = runs_dir(work_dir, agent_id, framework_id, executor_id).join("latest");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(container_id, &latest).map_err(|source| PathError::Create {
        path: latest.clone(),
        source,
    })?;
    Ok(dir)
}

/// Why a requested path is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfineError {
    #[error("path must be absolute")]
    NotAbsolute,
    #[error("path may not contain '..'")]
    DotDot,
    #[error("path not found")]
    NotFound,
    #[error("path is outside the served directory")]
    Escapes,
}

/// Resolves `requested` (absolute) and checks it stays under `root` after following
/// symlinks. Returns the canonical path.
pub fn confine(root: &Path, requested: &str) -> Result<PathBuf, ConfineError> {
    let p = Path::new(requested);
    if !p.is_absolute() {
        return Err(ConfineError::NotAbsolute);
    }
    if p.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(ConfineError::DotDot);
    }
    let root = root.canonicalize().map_err(|_| ConfineError::NotFound)?;
    let real = p.canonicalize().map_err(|_| ConfineError::NotFound)?;
    if real.starts_with(&root) {
        Ok(real)
    } else {
        Err(ConfineError::Escapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("agent-paths-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d.canonicalize().unwrap()
    }

    #[test]
    fn sandbox_layout_has_a_latest_link() {
        let w = scratch("layout");
        let dir = create_sandbox(&w, "a-S0", "f-0000", "t1", "c1").unwrap();
        assert_eq!(
            dir,
            w.join("slaves/a-S0/frameworks/f-0000/executors/t1/runs/c1")
        );
        assert!(dir.is_dir());
        let latest = w.join("slaves/a-S0/frameworks/f-0000/executors/t1/runs/latest");
        assert_eq!(latest.canonicalize().unwrap(), dir);
        assert!(create_sandbox(&w, "a-S0", "..", "t1", "c2").is_err());
        assert!(create_sandbox(&w, "a-S0", "f", "x/y", "c2").is_err());
        std::fs::remove_dir_all(&w).unwrap();
    }

    #[test]
    fn confinement_rejects_dotdot_and_symlink_escapes() {
        let w = scratch("confine");
        let root = w.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/stdout"), "hi").unwrap();
        std::fs::write(w.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(w.join("secret"), root.join("sub/escape")).unwrap();
        let ok = confine(&root, root.join("sub/stdout").to_str().unwrap()).unwrap();
        assert!(ok.ends_with("sub/stdout"));
        let dotdot = format!("{}/sub/../../secret", root.display());
        assert_eq!(confine(&root, &dotdot), Err(ConfineError::DotDot));
        assert_eq!(
            confine(&root, root.join("sub/escape").to_str().unwrap()),
            Err(ConfineError::Escapes)
        );
        assert_eq!(
            confine(&root, w.join("secret").to_str().unwrap()),
            Err(ConfineError::Escapes)
        );
        assert_eq!(
            confine(&root, "relative/path"),
            Err(ConfineError::NotAbsolute)
        );
        assert_eq!(
            confine(&root, root.join("missing").to_str().unwrap()),
            Err(ConfineError::NotFound)
        );
        std::fs::remove_dir_all(&w).unwrap();
    }
}
