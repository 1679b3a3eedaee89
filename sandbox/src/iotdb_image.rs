//! The sandbox's Apache IoTDB image, `k8s-manage-sandbox/iotdb:<version>`: Debian 12's
//! Java 17 runtime (debootstrap, cached), the ConfigNode and DataNode module assemblies of
//! one IoTDB release from Maven Central (`org.apache.iotdb:iotdb-confignode:<v>:zip` and
//! `iotdb-server:<v>:zip`: `lib/`, `conf/`, `sbin/`, unpacked into one home, `/iotdb`, as
//! the official image has it; cached per version), and `sandbox/iotdb/entrypoint.sh`,
//! which gives it the official image's interface (lower-case variables become
//! properties, `MEMORY_SIZE` is the heap). One image runs both roles.
//!
//! Maven Central here serves no `iotdb-cli`, so the image has no IoTDB CLI. In its place
//! `lib/` gets `k8s-manage-iotdb-sql.jar`, compiled here (javac) from
//! `sandbox/iotdb/IotdbSql.java`: one SQL statement through IoTDB's own Session API with
//! the CLI's `-e` command line. The sandbox names it with `iotdb.cli-class`
//! ([`SQL_CLIENT_CLASS`]); an apache/iotdb image keeps IoTDB's own CLI.
//!
//! No container registry answers here, so the built-in `iotdb` service runs on this image
//! in the sandbox; its name says it is not apache/iotdb. Nothing of IoTDB is committed.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::error::{IoContext, SandboxError};
use super::{engine, labels, rootfs};

/// The IoTDB release the sandbox runs: the newest whose module assemblies Maven Central
/// serves and that needs nothing from JitPack (2.0.2 to 2.0.7 need moquette-broker).
pub const IOTDB_VERSION: &str = "2.0.10";

/// The Maven artifacts unpacked into the IoTDB home, `groupId:artifactId`, type zip.
pub const ARTIFACTS: [&str; 2] = [
    "org.apache.iotdb:iotdb-confignode",
    "org.apache.iotdb:iotdb-server",
];

/// The Java runtime the image is made of.
pub const JRE_RECIPE: rootfs::Recipe = rootfs::Recipe {
    name: "iotdb-jre",
    include: &["openjdk-17-jre-headless", "procps"],
    post_install: "apt-get clean\nrm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin\n",
};

const ENTRYPOINT: &str = include_str!("../iotdb/entrypoint.sh");

/// The SQL client compiled into the image (the CLI's stand-in, see the module's doc).
const SQL_CLIENT_SOURCE: &str = include_str!("../iotdb/IotdbSql.java");

/// Its main class: what `iotdb.cli-class` names in the sandbox's services configuration.
pub const SQL_CLIENT_CLASS: &str = "k8smanage.sandbox.IotdbSql";

/// The jar it is put in, in the image's `lib/`.
const SQL_CLIENT_JAR: &str = "k8s-manage-iotdb-sql.jar";

/// Bump when the way the image is put together changes.
const FORMAT_VERSION: &str = "2";

/// The image's reference for `version`.
pub fn reference(version: &str) -> String {
    format!("k8s-manage-sandbox/iotdb:{version}")
}

/// Everything that decides the image's content.
fn recipe_hash(version: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        FORMAT_VERSION,
        version,
        &JRE_RECIPE.hash(),
        ENTRYPOINT,
        SQL_CLIENT_SOURCE,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for a in ARTIFACTS {
        h.update(a.as_bytes());
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// The `mvn` arguments that fetch one artifact's zip into `repo` without reading its POM:
/// the zips hold every jar, and the Maven Central this project reaches lacks the
/// `iotdb-core` parent POM (maven-dependency-plugin 3.x reads it even with
/// `-Dtransitive=false` and fails; 2.8 does not).
pub fn mvn_get_args(artifact: &str, version: &str, repo: &Path) -> Vec<String> {
    vec![
        "-B".into(),
        "-q".into(),
        format!("-Dmaven.repo.local={}", repo.display()),
        "org.apache.maven.plugins:maven-dependency-plugin:2.8:get".into(),
        format!("-Dartifact={artifact}:{version}:zip"),
        "-Dtransitive=false".into(),
    ]
}

/// Where `mvn_get_args` leaves an artifact's zip.
pub fn zip_path(repo: &Path, artifact: &str, version: &str) -> PathBuf {
    let (group, name) = artifact.split_once(':').unwrap_or(("", artifact));
    repo.join(group.replace('.', "/"))
        .join(name)
        .join(version)
        .join(format!("{name}-{version}.zip"))
}

/// The IoTDB home of `version` (`lib/`, `conf/`, `sbin/`), fetched and unpacked once into
/// the sandbox cache.
pub async fn iotdb_home(version: &str, progress: &dyn Fn(&str)) -> Result<PathBuf, SandboxError> {
    let cache = rootfs::default_cache_dir();
    let home = cache.join(format!("iotdb-{version}"));
    let _lock = rootfs::lock(&cache.join(format!("iotdb-{version}.lock"))).await?;
    if home.join("lib").is_dir() {
        return Ok(home);
    }
    let repo = cache.join("maven-repository");
    let partial = home.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial).io("removing the unfinished", &partial)?;
    }
    std::fs::create_dir_all(&partial).io("creating", &partial)?;
    for artifact in ARTIFACTS {
        progress(&format!(
            "fetching {artifact}:{version}:zip from Maven Central"
        ));
        rootfs::run(Command::new("mvn").args(mvn_get_args(artifact, version, &repo))).await?;
        let zip = zip_path(&repo, artifact, version);
        rootfs::run(
            Command::new("unzip")
                .args(["-q", "-o"])
                .arg(&zip)
                .arg("-d")
                .arg(&partial),
        )
        .await?;
    }
    if !partial.join("lib").is_dir() {
        return Err(SandboxError::InvalidOptions(format!(
            "the IoTDB {version} zips unpacked into {} have no lib/",
            partial.display()
        )));
    }
    std::fs::rename(&partial, &home).io("renaming the IoTDB home to", &home)?;
    Ok(home)
}

/// Make sure `k8s-manage-sandbox/iotdb:<version>` exists in the control host's engine and
/// was made by the current recipe. Its reference.
pub async fn ensure_iotdb_image(
    version: &str,
    progress: &dyn Fn(&str),
) -> Result<String, SandboxError> {
    let reference = reference(version);
    let hash = recipe_hash(version);
    let docker = engine::connect().await?;
    let current = |labels: Option<std::collections::HashMap<String, String>>| {
        labels.and_then(|l| l.get(labels::IMAGE_RECIPE).cloned())
    };
    if current(engine::image_labels(&docker, &reference).await?).as_deref() == Some(&hash) {
        return Ok(reference);
    }
    let home = iotdb_home(version, progress).await?;
    let cache = rootfs::default_cache_dir();
    let jre_hash = JRE_RECIPE.hash();
    let root = cache.join(format!("rootfs-iotdb-jre-{jre_hash}"));
    {
        let _lock = rootfs::lock(&cache.join(format!("iotdb-jre-{jre_hash}.lock"))).await?;
        if !root.exists() {
            rootfs::debootstrap(&JRE_RECIPE, &root, progress).await?;
        }
    }
    let _lock = rootfs::lock(&cache.join(format!("iotdb-image-{version}.lock"))).await?;
    let work = cache.join(format!("iotdb-image-{version}.work"));
    if work.exists() {
        std::fs::remove_dir_all(&work).io("removing the unfinished", &work)?;
    }
    rootfs::run(Command::new("cp").arg("-a").arg(&root).arg(&work)).await?;
    rootfs::run(
        Command::new("cp")
            .arg("-a")
            .arg(&home)
            .arg(work.join("iotdb")),
    )
    .await?;
    let entry = work.join("iotdb/entrypoint.sh");
    std::fs::write(&entry, ENTRYPOINT).io("writing", &entry)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755))
            .io("making executable", &entry)?;
    }
    compile_sql_client(&work.join("iotdb/lib"), &cache).await?;
    for dir in ["iotdb/data", "iotdb/logs"] {
        let d = work.join(dir);
        std::fs::create_dir_all(&d).io("creating", &d)?;
    }
    progress(&format!("importing {reference} into the Docker engine"));
    let changes = vec![
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("LABEL {}={hash}", labels::IMAGE_RECIPE),
        format!("LABEL io.k8s-manage.sandbox-iotdb-version={version}"),
        "WORKDIR /iotdb".to_string(),
        "ENTRYPOINT [\"/iotdb/entrypoint.sh\"]".to_string(),
    ];
    let imported = rootfs::import_dir(&docker, &work, &reference, &changes).await;
    std::fs::remove_dir_all(&work).io("removing the imported root file system", &work)?;
    imported?;
    Ok(reference)
}

/// Compile `IotdbSql.java` against the IoTDB jars in `lib` and put it there as a jar.
async fn compile_sql_client(lib: &Path, cache: &Path) -> Result<(), SandboxError> {
    for tool in ["javac", "jar"] {
        if which(tool).is_none() {
            return Err(SandboxError::Image {
                image: "k8s-manage-sandbox/iotdb".into(),
                reason: format!(
                    "`{tool}` is not installed; the image's SQL client \
                     (sandbox/iotdb/IotdbSql.java) is compiled with it\n  \
                     fix: apt-get install openjdk-17-jdk-headless (scripts/setup.sh does)"
                ),
            });
        }
    }
    let build = cache.join("iotdb-sql-client.build");
    if build.exists() {
        std::fs::remove_dir_all(&build).io("removing the unfinished", &build)?;
    }
    let classes = build.join("classes");
    std::fs::create_dir_all(&classes).io("creating", &classes)?;
    let source = build.join("IotdbSql.java");
    std::fs::write(&source, SQL_CLIENT_SOURCE).io("writing", &source)?;
    rootfs::run(
        Command::new("javac")
            .args(["--release", "17", "-nowarn", "-cp"])
            .arg(lib.join("*"))
            .arg("-d")
            .arg(&classes)
            .arg(&source),
    )
    .await?;
    rootfs::run(
        Command::new("jar")
            .arg("--create")
            .arg("--file")
            .arg(lib.join(SQL_CLIENT_JAR))
            .arg("-C")
            .arg(&classes)
            .arg("k8smanage"),
    )
    .await?;
    std::fs::remove_dir_all(&build).io("removing", &build)?;
    Ok(())
}

/// The path of a program on PATH.
fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_are_fetched_as_zips_without_their_poms_dependencies() {
        let repo = Path::new("/cache/maven-repository");
        let args = mvn_get_args("org.apache.iotdb:iotdb-server", "2.0.10", repo);
        assert!(args.contains(&"-Dartifact=org.apache.iotdb:iotdb-server:2.0.10:zip".into()));
        assert!(args.contains(&"-Dtransitive=false".into()));
        assert!(args.contains(&"-Dmaven.repo.local=/cache/maven-repository".into()));
        assert_eq!(
            zip_path(repo, "org.apache.iotdb:iotdb-server", "2.0.10"),
            Path::new(
                "/cache/maven-repository/org/apache/iotdb/iotdb-server/2.0.10/iotdb-server-2.0.10.zip"
            )
        );
    }

    #[test]
    fn the_recipe_follows_the_version_and_the_entrypoint_gives_the_official_interface() {
        assert_ne!(recipe_hash("2.0.10"), recipe_hash("2.0.8"));
        assert_eq!(reference("2.0.10"), "k8s-manage-sandbox/iotdb:2.0.10");
        for needed in [
            "org.apache.iotdb.confignode.service.ConfigNode -s",
            "org.apache.iotdb.db.service.DataNode -s",
            "MEMORY_SIZE",
            "cn_internal_address",
            "dn_internal_address",
        ] {
            assert!(ENTRYPOINT.contains(needed), "{needed}");
        }
    }
}
