// An agent loop: run code an LLM wrote in a sandbox, give the model its
// output (or its error) back, and read the files it produced. The "LLM" here
// is a fixed list of replies, so the example runs without one.
import { Sandbox, CommandExitError } from "wrenn";

const replies = [
  // First attempt: a bug (NameError) the model will see in stderr.
  "import json\nrows = [{'n': i, 'sq': i * i} for i in range(5)]\nprint(totl)",
  // Second attempt: fixed; writes a result file.
  "import json\nrows = [{'n': i, 'sq': i * i} for i in range(5)]\n" +
    "open('/home/user/out/result.json', 'w').write(json.dumps(rows))\nprint('rows:', len(rows))",
];

const sbx = await Sandbox.create({ template: "base", timeoutSecs: 300 });
try {
  await sbx.files.makeDir("/home/user/out");
  let feedback = "";
  for (const [turn, code] of replies.entries()) {
    await sbx.files.write("/home/user/main.py", code);
    try {
      const r = await sbx.commands.run("python3 /home/user/main.py", { timeoutMs: 30000 });
      feedback = r.stdout;
      console.log(`turn ${turn}: ok: ${r.stdout.trim()}`);
      break;
    } catch (e) {
      if (!(e instanceof CommandExitError)) throw e;
      feedback = e.stderr; // what the model would be shown next
      console.log(`turn ${turn}: exit ${e.exitCode}: ${e.stderr.trim().split("\n").at(-1)}`);
    }
  }
  for (const entry of await sbx.files.list("/home/user/out")) {
    console.log(`${entry.name} (${entry.size} bytes):`, await sbx.files.read(entry.path));
  }
  void feedback;
} finally {
  await sbx.kill();
}
