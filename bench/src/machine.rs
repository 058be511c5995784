//! The machine a figure was measured on.

use std::{fmt, process::Command};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    /// `rustc -V`, when a toolchain is on the PATH.
    pub rustc: Option<String>,
    pub postgres: Option<String>,
}

impl Machine {
    pub fn read(postgres: Option<String>) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, m)| m.trim()))
            .unwrap_or("unknown")
            .to_string();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
        let rustc = Command::new("rustc")
            .arg("-V")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        Self {
            cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu_model,
            kernel,
            rustc,
            postgres,
        }
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} × {}, Linux {}", self.cpus, self.cpu_model, self.kernel)?;
        if let Some(rustc) = &self.rustc {
            write!(f, ", {rustc}")?;
        }
        if let Some(pg) = &self.postgres {
            write!(f, ", PostgreSQL {pg}")?;
        }
        Ok(())
    }
}
