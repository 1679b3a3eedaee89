"""A real IoTDB client for tests/iotdb_e2e.rs: Apache IoTDB's Python session (PyPI
apache-iotdb, the server's version), connected to one DataNode (a NodePort of the test).

    client.py HOST PORT write N     N points of root.k8s_manage.d1.s1 (t = 1..N, value t*2)
    client.py HOST PORT count       count and sum of those points
    client.py HOST PORT sql STMT    rows of a query, cells joined by "|"
"""
import sys

from iotdb.Session import Session
from iotdb.utils.IoTDBConstants import TSDataType
from iotdb.utils.Tablet import Tablet

DEVICE = "root.k8s_manage.d1"


def main():
    host, port, command = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # No redirection: every request goes to the DataNode named, the one under test.
    session = Session(host, port, "root", "root", enable_redirection=False)
    session.open(False)
    try:
        if command == "write":
            n = int(sys.argv[4])
            batch = 1000
            for start in range(1, n + 1, batch):
                times = list(range(start, min(start + batch, n + 1)))
                tablet = Tablet(DEVICE, ["s1"], [TSDataType.INT64], [[t * 2] for t in times], times)
                session.insert_tablet(tablet)
            print(f"wrote {n}")
        elif command == "count":
            rows = query(session, f"select count(s1), sum(s1) from {DEVICE}")
            print(rows[0])
        elif command == "sql":
            for row in query(session, sys.argv[4]):
                print(row)
        else:
            sys.exit(f"unknown command {command}")
    finally:
        session.close()


def query(session, sql):
    out = []
    with session.execute_query_statement(sql) as data:
        while data.has_next():
            record = data.next()
            out.append("|".join(str(f) for f in record.get_fields()))
    return out


if __name__ == "__main__":
    main()
