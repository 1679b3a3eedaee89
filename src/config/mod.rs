//! Reading an OpenPAI-style config dir and node-list files into located YAML trees,
//! then into the raw config structures the model is built from.

pub mod yaml_tree;
