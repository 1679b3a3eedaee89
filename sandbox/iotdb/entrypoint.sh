#!/bin/sh
# Entrypoint of the sandbox's IoTDB image (k8s-manage-sandbox/iotdb:<version>), with the
# interface of the official apache/iotdb image that the built-in iotdb service is written
# for: `entrypoint.sh confignode|datanode` (without an argument the role follows from the
# variables the pod sets: cn_internal_address or dn_internal_address), every environment variable whose name is all
# lower case becomes a key of conf/iotdb-system.properties, and MEMORY_SIZE (e.g. 1024M)
# is the JVM heap. The JVM runs as PID 1 (SIGTERM stops it, as stop-*.sh would) and is
# started directly with the main class, as IoTDB's own integration tests do: the zip's
# start scripts size the heap from the host's memory and need lsof.
set -eu
role="${1:-}"
if [ -z "$role" ]; then
    if [ -n "${cn_internal_address:-}" ]; then role=confignode; fi
    if [ -n "${dn_internal_address:-}" ]; then role=datanode; fi
fi
home=/iotdb
conf="$home/conf/iotdb-system.properties"

# Lower-case variables (cn_internal_address=..., data_replication_factor=2) are
# properties: an existing uncommented line of the key is replaced, others are appended.
for key in $(env | sed -n 's/^\([a-z][a-z0-9_]*\)=.*/\1/p' | sort -u); do
    value=$(printenv "$key")
    grep -v "^${key}=" "$conf" >"$conf.new" || true
    printf '%s=%s\n' "$key" "$value" >>"$conf.new"
    mv "$conf.new" "$conf"
done

heap="${MEMORY_SIZE:-512M}"
direct="${DIRECT_MEMORY_SIZE:-256M}"
set -- -Xms"$heap" -Xmx"$heap" -XX:MaxDirectMemorySize="$direct" \
    -XX:+CrashOnOutOfMemoryError -Dsun.jnu.encoding=UTF-8 -Dfile.encoding=UTF-8 \
    --add-opens=java.base/java.util.concurrent=ALL-UNNAMED \
    --add-opens=java.base/java.lang=ALL-UNNAMED \
    --add-opens=java.base/java.util=ALL-UNNAMED \
    --add-opens=java.base/java.nio=ALL-UNNAMED \
    --add-opens=java.base/java.io=ALL-UNNAMED \
    --add-opens=java.base/java.net=ALL-UNNAMED \
    -DIOTDB_HOME="$home" -DIOTDB_DATA_HOME="$home" -DIOTDB_CONF="$home/conf" \
    -DTSFILE_HOME="$home" -DTSFILE_CONF="$home/conf" \
    -DCONFIGNODE_HOME="$home" -DCONFIGNODE_DATA_HOME="$home" -DCONFIGNODE_CONF="$home/conf" \
    -cp "$home/lib/*"
case "$role" in
confignode)
    exec java "$@" -Dlogback.configurationFile="$home/conf/logback-confignode.xml" \
        -DCONFIGNODE_LOGS="$home/logs" -Dname=iotdb.ConfigNode \
        org.apache.iotdb.confignode.service.ConfigNode -s
    ;;
datanode)
    exec java "$@" -Dlogback.configurationFile="$home/conf/logback-datanode.xml" \
        -DIOTDB_LOG_DIR="$home/logs" -Dname=iotdb.IoTDB -DOFF_HEAP_MEMORY="$direct" \
        -Xss512k org.apache.iotdb.db.service.DataNode -s
    ;;
*)
    echo "entrypoint.sh: unknown role $role (confignode or datanode)" >&2
    exit 2
    ;;
esac
