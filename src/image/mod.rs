//! Images of the imagelist (the original `docker_build.py`): each `DIR/src/<image>/` folder
//! is the build context, its `template-list` files (default `Dockerfile`) rendered with
//! Tera first; built through the Docker API (bollard) in dependency order, tagged
//! `<domain>/<namespace>/<image>:<tag>`, and pushed with the registry credentials of
//! `services-configuration.yaml` (sent in the API's auth header only: never in argv or
//! output). `image node-agent` makes the kubelet + cri-dockerd image from official
//! release binaries ([`node_agent`]) and writes it as a `docker save` bundle ([`save`]).

pub mod build;
pub mod context;
pub mod node_agent;
pub mod push;
pub mod save;
