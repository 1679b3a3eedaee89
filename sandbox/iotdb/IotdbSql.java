// The SQL client of the sandbox's IoTDB image: one statement through IoTDB's own Session
// API (the iotdb-session jar the DataNode ships), with the command line of IoTDB's CLI in
// `-e` mode: -h HOST -p PORT -u USER -pw PASSWORD -e SQL, usually from a Java argument
// file (`java @file`) so the password is in no process argument. Rows are printed between
// `|` signs, a header row first, as the CLI prints its tables.
//
// It exists because the Maven Central this project reaches does not serve
// org.apache.iotdb:iotdb-cli, so the image built from the server zips has no CLI. The
// built-in iotdb service names it with `iotdb.cli-class` in the sandbox only; on
// apache/iotdb images the default, IoTDB's own org.apache.iotdb.cli.Cli, is used.
package k8smanage.sandbox;

import java.util.List;
import java.util.Locale;
import org.apache.iotdb.isession.SessionDataSet;
import org.apache.iotdb.session.Session;

public final class IotdbSql {
    private IotdbSql() {}

    public static void main(String[] args) {
        String host = "127.0.0.1";
        int port = 6667;
        String user = "root";
        String password = null;
        String sql = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (a) {
                case "-h": host = v; i++; break;
                case "-p": port = Integer.parseInt(v); i++; break;
                case "-u": user = v; i++; break;
                case "-pw": password = v; i++; break;
                case "-e": sql = v; i++; break;
                default:
                    System.err.println("IotdbSql: unknown argument " + a);
                    System.exit(2);
            }
        }
        if (host == null || sql == null || password == null) {
            System.err.println("usage: IotdbSql -h HOST -p PORT -u USER -pw PASSWORD -e SQL");
            System.exit(2);
        }
        Session session = new Session.Builder()
                .host(host).port(port).username(user).password(password).build();
        try {
            session.open(false);
            try {
                if (returnsRows(sql)) {
                    printRows(session.executeQueryStatement(sql));
                } else {
                    session.executeNonQueryStatement(sql);
                    System.out.println("Msg: The statement is executed successfully.");
                }
            } finally {
                session.close();
            }
        } catch (Exception e) {
            System.err.println("Msg: " + e.getMessage());
            System.exit(1);
        }
    }

    /** Whether a statement answers with rows (a query) rather than a status. */
    static boolean returnsRows(String sql) {
        String first = sql.trim().split("\\s+", 2)[0].toLowerCase(Locale.ROOT);
        switch (first) {
            case "select": case "show": case "list": case "count":
            case "describe": case "desc": case "explain":
                return true;
            default:
                return false;
        }
    }

    static void printRows(SessionDataSet rows) throws Exception {
        try {
            List<String> names = rows.getColumnNames();
            System.out.println(row(names));
            SessionDataSet.DataIterator it = rows.iterator();
            String[] cells = new String[names.size()];
            while (it.next()) {
                for (int c = 0; c < cells.length; c++) {
                    String v = it.getString(names.get(c));
                    cells[c] = v == null ? "null" : v;
                }
                System.out.println(row(List.of(cells)));
            }
        } finally {
            rows.close();
        }
    }

    static String row(List<String> cells) {
        StringBuilder b = new StringBuilder("|");
        for (String c : cells) {
            b.append(c).append('|');
        }
        return b.toString();
    }
}
