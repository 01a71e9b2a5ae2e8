//! A component's runtime I/O definition, as pyfate prints it with `component artifact-type`
//! (`<T_out>/define.yaml`, `execution.md` §3.2 step 4).

use std::collections::BTreeMap;

use serde::Deserialize;

/// `{inputs: {data, model}, outputs: {data, model, metric}}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Define {
    #[serde(default)]
    pub inputs: Inputs,
    #[serde(default)]
    pub outputs: Outputs,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Inputs {
    #[serde(default)]
    pub data: Vec<Artifact>,
    #[serde(default)]
    pub model: Vec<Artifact>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Outputs {
    #[serde(default)]
    pub data: Vec<Artifact>,
    #[serde(default)]
    pub model: Vec<Artifact>,
    #[serde(default)]
    pub metric: Vec<Artifact>,
}

/// One declared input or output.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Artifact {
    pub name: String,
    #[serde(default)]
    pub is_multi: bool,
    #[serde(default)]
    pub optional: bool,
    #[serde(default)]
    pub types: Vec<ArtifactType>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ArtifactType {
    pub type_name: String,
    #[serde(default)]
    pub uri_types: Vec<String>,
    #[serde(default)]
    pub path_type: Option<String>,
}

/// The three classes of outputs, with the class names FATE's wrapper uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Data,
    Model,
    Metric,
}

impl Define {
    pub fn parse(text: &str) -> Result<Self, serde_yaml::Error> {
        Ok(serde_yaml::from_str::<Option<Define>>(text)?.unwrap_or_default())
    }

    fn input(&self, class: Class, key: &str) -> Option<&Artifact> {
        let list = match class {
            Class::Model => &self.inputs.model,
            _ => &self.inputs.data,
        };
        list.iter().find(|a| a.name == key)
    }

    /// Whether input `key` takes a list of artifacts.
    pub fn is_multi_input(&self, class: Class, key: &str) -> bool {
        self.input(class, key).is_some_and(|a| a.is_multi)
    }

    /// Whether input `key` may be missing.
    pub fn is_optional_input(&self, class: Class, key: &str) -> bool {
        self.input(class, key).is_some_and(|a| a.optional)
    }

    /// Every output with its class, in FATE's order (data, model, metric).
    pub fn outputs(&self) -> Vec<(Class, &Artifact)> {
        let o = &self.outputs;
        o.data
            .iter()
            .map(|a| (Class::Data, a))
            .chain(o.model.iter().map(|a| (Class::Model, a)))
            .chain(o.metric.iter().map(|a| (Class::Metric, a)))
            .collect()
    }
}

/// Output name → the first declared type name (what FATE's wrapper builds URIs for).
pub fn first_types(define: &Define) -> BTreeMap<String, String> {
    define
        .outputs()
        .into_iter()
        .filter_map(|(_, a)| Some((a.name.clone(), a.types.first()?.type_name.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What pyfate 2.2 prints for `coordinated_lr`, role guest, stage train (trimmed).
    const LR: &str = "inputs:\n  data:\n    - name: train_data\n      is_multi: false\n      optional: false\n      types:\n        - type_name: dataframe\n          uri_types: [eggroll, hdfs]\n          path_type: distributed\n    - name: validate_data\n      is_multi: false\n      optional: true\n      types:\n        - type_name: dataframe\n  model:\n    - name: warm_start_model\n      is_multi: false\n      optional: true\n      types:\n        - type_name: json_model\noutputs:\n  data:\n    - name: train_output_data\n      is_multi: false\n      optional: false\n      types:\n        - type_name: dataframe\n  model:\n    - name: output_model\n      is_multi: false\n      optional: false\n      types:\n        - type_name: json_model\n  metric:\n    - name: metric\n      is_multi: false\n      optional: false\n      types:\n        - type_name: json_metric\n";

    #[test]
    fn reads_pyfates_definition() {
        let d = Define::parse(LR).unwrap();
        assert!(d.is_optional_input(Class::Data, "validate_data"));
        assert!(!d.is_optional_input(Class::Data, "train_data"));
        assert!(d.is_optional_input(Class::Model, "warm_start_model"));
        assert!(!d.is_multi_input(Class::Data, "train_data"));
        let outs: Vec<(Class, &str)> = d
            .outputs()
            .into_iter()
            .map(|(c, a)| (c, a.name.as_str()))
            .collect();
        assert_eq!(
            outs,
            [
                (Class::Data, "train_output_data"),
                (Class::Model, "output_model"),
                (Class::Metric, "metric")
            ]
        );
        assert_eq!(first_types(&d)["output_model"], "json_model");
        assert_eq!(Define::parse("").unwrap(), Define::default());
    }
}
