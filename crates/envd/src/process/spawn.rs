//! Starting a process as a given user, on pipes or on a new pseudo-terminal.
//! This is the one place that needs `unsafe`: the post-fork hook and the
//! terminal ioctls.
#![allow(
    unsafe_code,
    reason = "fork hook and terminal ioctls; each block has a SAFETY note"
)]

use std::{
    os::fd::{AsRawFd, OwnedFd},
    path::PathBuf,
    process::Stdio,
};

use nix::{
    pty::{openpty, Winsize},
    unistd::{Gid, Uid},
};

use crate::connect::ConnectError;

/// Everything needed to start one process.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    pub uid: Uid,
    pub gid: Gid,
    pub groups: Vec<Gid>,
    /// `Some` runs on a new PTY of that size.
    pub pty: Option<(u16, u16)>,
    /// Keep a stdin pipe open (ignored with a PTY, which is always writable).
    pub stdin: bool,
}

/// A started process and its I/O ends.
#[derive(Debug)]
pub struct Spawned {
    pub child: tokio::process::Child,
    pub pid: u32,
    /// The PTY master (read output, write input, resize), when on a PTY.
    pub pty_master: Option<OwnedFd>,
}

nix::ioctl_write_ptr_bad!(set_window_size, libc::TIOCSWINSZ, Winsize);

fn winsize(cols: u16, rows: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Resizes the terminal behind `master`; the kernel sends SIGWINCH to the
/// terminal's foreground process group.
pub fn resize(master: &OwnedFd, cols: u16, rows: u16) -> std::io::Result<()> {
    let size = winsize(cols, rows);
    // SAFETY: the fd is a valid open PTY master we own and `size` outlives the call.
    unsafe { set_window_size(master.as_raw_fd(), &size) }
        .map(|_| ())
        .map_err(std::io::Error::from)
}

pub fn spawn(spec: SpawnSpec) -> Result<Spawned, ConnectError> {
    let mut command = tokio::process::Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .kill_on_drop(false);
    let mut pty_master = None;
    let on_pty = spec.pty.is_some();
    if let Some((cols, rows)) = spec.pty {
        let pty = openpty(Some(&winsize(cols, rows)), None)
            .map_err(|err| ConnectError::internal(format!("openpty: {err}")))?;
        let slave = pty.slave;
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|err| ConnectError::internal(format!("dup pty: {err}")))
        };
        command
            .stdin(Stdio::from(dup(&slave)?))
            .stdout(Stdio::from(dup(&slave)?))
            .stderr(Stdio::from(slave));
        set_cloexec_nonblocking(&pty.master)?;
        pty_master = Some(pty.master);
    } else {
        command
            .stdin(if spec.stdin {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
    }
    let (uid, gid, groups) = (spec.uid, spec.gid, spec.groups);
    let switch_user = nix::unistd::geteuid().is_root();
    // SAFETY: the hook runs in the forked child before exec and only makes
    // async-signal-safe system calls (setsid, ioctl, setgroups, setgid,
    // setuid) on data prepared before the fork; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid()?;
            if on_pty {
                // Make the PTY (our stdin) the controlling terminal.
                if libc::ioctl(0, libc::TIOCSCTTY as _, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if switch_user {
                nix::unistd::setgroups(&groups)?;
                nix::unistd::setgid(gid)?;
                nix::unistd::setuid(uid)?;
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|err| ConnectError::from_io(&err, &format!("starting {:?}", spec.program)))?;
    let pid = child
        .id()
        .ok_or_else(|| ConnectError::internal("process exited before it got a pid"))?;
    Ok(Spawned {
        child,
        pid,
        pty_master,
    })
}

fn set_cloexec_nonblocking(fd: &OwnedFd) -> Result<(), ConnectError> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)
        .map_err(|err| ConnectError::internal(format!("fcntl: {err}")))?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(|err| ConnectError::internal(format!("fcntl: {err}")))?;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|err| ConnectError::internal(format!("fcntl: {err}")))?;
    Ok(())
}
