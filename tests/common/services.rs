//! A config dir's own services for the service-command tests: `base` (a Namespace and a
//! ConfigMap filled from services-configuration.yaml and the cluster model) and `web`
//! (a StatefulSet + headless Service, needing `base`) and `probe` (a Pod and exec steps),
//! written into `DIR/services/`.
#![allow(dead_code)]

use std::path::Path;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub fn write_services(dir: &Path) {
    write(
        dir,
        "services-configuration.yaml",
        "cluster:\n  docker-registry-info:\n    docker-namespace: team\n    docker-registry-domain: registry.example:5000\n    docker-tag: v7\nweb:\n  namespace: demo\n  replicas: 2\n  greeting: hello from services-configuration\n",
    );
    write(
        dir,
        "services/service.yaml",
        "servicelist:\n  - web\n  - base\n  - probe\n",
    );
    write(
        dir,
        "services/probe/service.yaml",
        "prerequisite: [base]\ntemplate-list: [pod.yaml]\nstart:\n  - apply: [pod.yaml]\n  - exec: {pod: probe-0, namespace: \"{{ services.web.namespace }}\", container: main, command: [echo, \"{{ services.web.greeting }}\"]}\nrefresh:\n  - exec: {pod: probe-0, namespace: \"{{ services.web.namespace }}\", command: [\"false\"]}\n",
    );
    write(
        dir,
        "services/probe/pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: probe-0\n  namespace: {{ services.web.namespace }}\n  labels: {app: probe}\nspec:\n  containers:\n    - name: main\n      image: {{ registry.prefix }}probe:{{ registry.tag }}\n",
    );
    write(
        dir,
        "services/base/service.yaml",
        "template-list: [namespace.yaml, settings.yaml]\nstart:\n  - apply: [namespace.yaml, settings.yaml]\n  - wait: {kind: ConfigMap, name: web-settings, namespace: \"{{ services.web.namespace }}\", condition: exists, timeout: 10}\n",
    );
    write(
        dir,
        "services/base/namespace.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ services.web.namespace }}\n",
    );
    write(
        dir,
        "services/base/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  namespace: {{ services.web.namespace }}\ndata:\n  greeting: \"{{ services.web.greeting }}\"\n  domain: \"{{ cluster.domain }}\"\n  masters: \"{{ cluster.masters | length }}\"\n",
    );
    write(
        dir,
        "services/web/service.yaml",
        "prerequisite: [base]\ntemplate-list: [statefulset.yaml]\nstart:\n  - apply: [statefulset.yaml]\n  - wait: {kind: StatefulSet, name: web, namespace: \"{{ config.namespace }}\", condition: ready}\nstop:\n  - delete: [statefulset.yaml]\n  - wait: {kind: StatefulSet, name: web, namespace: \"{{ config.namespace }}\", condition: deleted, timeout: 20}\n",
    );
    write(
        dir,
        "services/web/statefulset.yaml",
        r#"apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {{ config.namespace }}
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector: {app: web}
  ports: [{name: http, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: {{ config.namespace }}
spec:
  serviceName: web
  replicas: {{ config.replicas }}
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: {{ registry.prefix }}web:{{ registry.tag }}
"#,
    );
}
