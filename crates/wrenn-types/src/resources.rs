//! The size of a sandbox: vCPUs, memory and (optionally) a disk larger than
//! its template's. Built only through [`Resources::new`], so a value in hand
//! is within the platform's bounds; hosts and plans apply their own, tighter
//! limits on top.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct Resources {
    vcpus: u32,
    memory_mb: u32,
    /// `None`: the template's disk size.
    disk_mb: Option<u64>,
}

/// Why a size is out of bounds; the message names the field and the range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourcesError {
    #[error("vcpus must be between {min} and {max}, got {got}", min = Resources::VCPUS.0, max = Resources::VCPUS.1)]
    Vcpus { got: u32 },
    #[error("memory_mb must be between {min} and {max}, got {got}", min = Resources::MEMORY_MB.0, max = Resources::MEMORY_MB.1)]
    MemoryMb { got: u32 },
    #[error("disk_mb must be between {min} and {max}, got {got}", min = Resources::DISK_MB.0, max = Resources::DISK_MB.1)]
    DiskMb { got: u64 },
}

impl Resources {
    /// Inclusive bounds of each field.
    pub const VCPUS: (u32, u32) = (1, 32);
    pub const MEMORY_MB: (u32, u32) = (128, 65_536);
    pub const DISK_MB: (u64, u64) = (256, 1_048_576);

    pub fn new(vcpus: u32, memory_mb: u32, disk_mb: Option<u64>) -> Result<Self, ResourcesError> {
        if !(Self::VCPUS.0..=Self::VCPUS.1).contains(&vcpus) {
            return Err(ResourcesError::Vcpus { got: vcpus });
        }
        if !(Self::MEMORY_MB.0..=Self::MEMORY_MB.1).contains(&memory_mb) {
            return Err(ResourcesError::MemoryMb { got: memory_mb });
        }
        if let Some(disk) = disk_mb {
            if !(Self::DISK_MB.0..=Self::DISK_MB.1).contains(&disk) {
                return Err(ResourcesError::DiskMb { got: disk });
            }
        }
        Ok(Self {
            vcpus,
            memory_mb,
            disk_mb,
        })
    }

    pub fn vcpus(&self) -> u32 {
        self.vcpus
    }

    pub fn memory_mb(&self) -> u32 {
        self.memory_mb
    }

    pub fn disk_mb(&self) -> Option<u64> {
        self.disk_mb
    }
}

/// Deserialising validates, so a `Resources` read from JSON is in bounds.
impl<'de> Deserialize<'de> for Resources {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            vcpus: u32,
            memory_mb: u32,
            #[serde(default)]
            disk_mb: Option<u64>,
        }
        let raw = Raw::deserialize(d)?;
        Self::new(raw.vcpus, raw.memory_mb, raw.disk_mb).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::{Resources, ResourcesError};

    #[test]
    fn new_when_in_bounds_then_ok() {
        let r = Resources::new(2, 512, Some(2048));
        assert_eq!(
            r.map(|r| (r.vcpus(), r.memory_mb(), r.disk_mb())),
            Ok((2, 512, Some(2048)))
        );
    }

    #[test]
    fn new_when_out_of_bounds_then_error_names_field() {
        assert_eq!(
            Resources::new(0, 512, None),
            Err(ResourcesError::Vcpus { got: 0 })
        );
        assert_eq!(
            Resources::new(1, 64, None),
            Err(ResourcesError::MemoryMb { got: 64 })
        );
        let err = Resources::new(1, 512, Some(1)).map_err(|e| e.to_string());
        assert!(
            matches!(&err, Err(m) if m.starts_with("disk_mb must be")),
            "{err:?}"
        );
    }

    #[test]
    fn deserialize_when_out_of_bounds_then_refused() {
        let bad: Result<Resources, _> = serde_json::from_str(r#"{"vcpus":99,"memory_mb":512}"#);
        assert!(bad.is_err());
        let ok: Result<Resources, _> = serde_json::from_str(r#"{"vcpus":1,"memory_mb":512}"#);
        assert!(ok.is_ok());
    }
}
