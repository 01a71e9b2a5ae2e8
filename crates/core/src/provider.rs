//! Provider references `name:version@device` and their resolution (`dag.md` §5.3).
//!
//! Resolution is pure: the caller passes a [`Catalog`] snapshot of the registry. Unlike
//! upstream (W8), an omitted version is resolved per provider name: the configured default
//! version for the default provider, else the newest registered version of that name.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The provider name of FATE's algorithms (pyfate). A local one runs its components through
/// ferroflow's task wrapper (`ferroflow task entrypoint`) with its `metadata.venv`.
pub const FATE: &str = "fate";

/// The built-in provider that runs flow-internal components (upload, download).
pub const FLOW_PROVIDER: &str = "fate_flow";

/// A provider a site registers itself at every start (the demo provider, `fate_flow`): what
/// the binary that runs their components hands to the site.
#[derive(Debug, Clone)]
pub struct Builtin {
    pub name: String,
    pub version: String,
    /// The command its components run with.
    pub entrypoint: Vec<String>,
    /// Each component's name and description: `{inputs: {data: [..], model: [..]},
    /// outputs: {data: [..], model: [..], metric: [..]}}`, which lets a DAG's input and output
    /// keys be checked at submit.
    pub components: Vec<(String, serde_json::Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Device {
    Local,
    Docker,
    K8s,
}

impl Device {
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Local => "local",
            Device::Docker => "docker",
            Device::K8s => "k8s",
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Device {
    type Err = ProviderError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Device::Local),
            "docker" => Ok(Device::Docker),
            "k8s" => Ok(Device::K8s),
            _ => Err(ProviderError::DeviceNotSupported(s.to_string())),
        }
    }
}

/// A fully resolved provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderRef {
    pub name: String,
    pub version: String,
    pub device: Device,
}

impl ProviderRef {
    pub fn new(name: &str, version: &str, device: Device) -> Self {
        Self {
            name: name.to_string(),
            version: version.to_string(),
            device,
        }
    }
}

impl fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}@{}", self.name, self.version, self.device)
    }
}

impl FromStr for ProviderRef {
    type Err = ProviderError;
    /// A complete `name:version@device`, as stored on a task.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let spec = ProviderSpec::parse(s)?;
        match (spec.name, spec.version, spec.device) {
            (Some(n), Some(v), Some(d)) => Ok(ProviderRef {
                name: n,
                version: v,
                device: d.parse()?,
            }),
            _ => Err(ProviderError::Format(s.to_string())),
        }
    }
}

/// A provider string as written in a DAG: every part may be empty or `*` (= default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProviderSpec {
    pub name: Option<String>,
    pub version: Option<String>,
    pub device: Option<String>,
}

impl ProviderSpec {
    pub fn parse(s: &str) -> Result<Self, ProviderError> {
        let (name, rest) = s
            .split_once(':')
            .ok_or_else(|| ProviderError::Format(s.to_string()))?;
        let (version, device) = rest
            .split_once('@')
            .ok_or_else(|| ProviderError::Format(s.to_string()))?;
        let part = |p: &str| {
            let p = p.trim();
            (!p.is_empty() && p != "*").then(|| p.to_string())
        };
        Ok(Self {
            name: part(name),
            version: part(version),
            device: part(device),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDefaults {
    pub name: String,
    /// Empty: take the newest registered version.
    pub version: String,
    pub device: Device,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider {0:?}: format should be name:version@device")]
    Format(String),
    #[error("device {0:?} not supported (local, docker or k8s)")]
    DeviceNotSupported(String),
    #[error("provider {wanted} is not registered{}", registered_hint(.registered))]
    NotFound {
        wanted: String,
        registered: Vec<String>,
    },
}

fn registered_hint(registered: &[String]) -> String {
    if registered.is_empty() {
        String::new()
    } else {
        format!(" (registered: {})", registered.join(", "))
    }
}

/// A snapshot of a site's provider registry, for pure validation.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub defaults: Option<ProviderDefaults>,
    pub providers: Vec<CatalogEntry>,
}

#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub provider: ProviderRef,
    /// The components it offers; `None` when unknown (any component is accepted).
    pub components: Option<Vec<String>>,
    /// Declared inputs and outputs per component, where the provider describes them.
    pub io: BTreeMap<String, ComponentIo>,
}

/// A component's artifact names, data and model alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentIo {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

impl Catalog {
    /// Resolves a DAG's provider string (or its absence) against this registry.
    pub fn resolve(&self, written: Option<&str>) -> Result<ProviderRef, ProviderError> {
        let spec = match written {
            Some(s) => ProviderSpec::parse(s)?,
            None => ProviderSpec::default(),
        };
        let defaults = self.defaults.clone().unwrap_or(ProviderDefaults {
            name: "fate".into(),
            version: String::new(),
            device: Device::Local,
        });
        let name = spec.name.unwrap_or_else(|| defaults.name.clone());
        let device = match spec.device {
            Some(d) => d.parse()?,
            None => defaults.device,
        };
        let version = match spec.version {
            Some(v) => Some(v),
            None if name == defaults.name && !defaults.version.is_empty() => {
                Some(defaults.version.clone())
            }
            None => self
                .providers
                .iter()
                .filter(|e| e.provider.name == name && e.provider.device == device)
                .map(|e| e.provider.version.clone())
                .max_by(|a, b| compare_versions(a, b)),
        };
        let wanted = ProviderRef {
            name: name.clone(),
            version: version.clone().unwrap_or_else(|| "*".into()),
            device,
        };
        match version {
            Some(_) if self.providers.iter().any(|e| e.provider == wanted) => Ok(wanted),
            _ => Err(ProviderError::NotFound {
                wanted: wanted.to_string(),
                registered: self
                    .providers
                    .iter()
                    .map(|e| e.provider.to_string())
                    .collect(),
            }),
        }
    }

    /// Whether the provider offers the component (unknown lists accept everything).
    pub fn has_component(&self, provider: &ProviderRef, component: &str) -> bool {
        self.providers
            .iter()
            .find(|e| &e.provider == provider)
            .is_some_and(|e| {
                e.components
                    .as_ref()
                    .is_none_or(|c| c.iter().any(|x| x == component))
            })
    }

    /// What a component declares it reads and writes, when its provider says.
    pub fn io(&self, provider: &ProviderRef, component: &str) -> Option<&ComponentIo> {
        self.providers
            .iter()
            .find(|e| &e.provider == provider)?
            .io
            .get(component)
    }

    pub fn components(&self, provider: &ProviderRef) -> Option<&[String]> {
        self.providers
            .iter()
            .find(|e| &e.provider == provider)?
            .components
            .as_deref()
    }
}

/// Orders dotted versions numerically where possible (`2.10.0` > `2.9.1`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-'])
            .map(|p| (p.parse::<u64>().unwrap_or(0), p.to_string()))
            .collect()
    };
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog {
            defaults: Some(ProviderDefaults {
                name: "fate".into(),
                version: "2.2.0".into(),
                device: Device::Local,
            }),
            providers: vec![
                CatalogEntry {
                    provider: ProviderRef::new("fate", "2.2.0", Device::Local),
                    components: None,
                    io: BTreeMap::new(),
                },
                CatalogEntry {
                    provider: ProviderRef::new("demo", "0.1.0", Device::Local),
                    components: Some(vec!["demo_reader".into()]),
                    io: BTreeMap::new(),
                },
                CatalogEntry {
                    provider: ProviderRef::new("demo", "0.10.0", Device::Local),
                    components: Some(vec!["demo_reader".into()]),
                    io: BTreeMap::new(),
                },
            ],
        }
    }

    #[test]
    fn parses_and_prints() {
        let p: ProviderRef = "fate:2.2.0@docker".parse().unwrap();
        assert_eq!(p.to_string(), "fate:2.2.0@docker");
        assert!("fate".parse::<ProviderRef>().is_err());
        assert!(ProviderSpec::parse("fate@local").is_err());
        assert_eq!(ProviderSpec::parse(":*@").unwrap(), ProviderSpec::default());
    }

    #[test]
    fn defaults_fill_missing_parts() {
        let c = catalog();
        assert_eq!(c.resolve(None).unwrap().to_string(), "fate:2.2.0@local");
        assert_eq!(
            c.resolve(Some("fate:@")).unwrap().to_string(),
            "fate:2.2.0@local"
        );
    }

    #[test]
    fn version_is_resolved_per_name() {
        let c = catalog();
        assert_eq!(
            c.resolve(Some("demo:*@local")).unwrap().to_string(),
            "demo:0.10.0@local"
        );
    }

    #[test]
    fn unknown_provider_lists_what_is_registered() {
        let e = catalog().resolve(Some("fate:9.9@local")).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("fate:9.9@local") && text.contains("demo:0.1.0@local"),
            "{text}"
        );
        assert!(matches!(
            catalog().resolve(Some("fate:2.2.0@gpu")),
            Err(ProviderError::DeviceNotSupported(_))
        ));
    }

    #[test]
    fn components() {
        let c = catalog();
        let demo = ProviderRef::new("demo", "0.1.0", Device::Local);
        assert!(c.has_component(&demo, "demo_reader"));
        assert!(!c.has_component(&demo, "psi"));
        assert!(c.has_component(&ProviderRef::new("fate", "2.2.0", Device::Local), "psi"));
    }
}
