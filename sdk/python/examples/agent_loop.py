"""An agent loop: run code an LLM wrote, feed back the output, read back files.

No LLM is called here: ``fake_llm`` returns fixed snippets, the second one
fixing the first one's error, as a model given the traceback would.

    WRENN_API_KEY=wrn_... WRENN_BASE_URL=http://127.0.0.1:8000 python examples/agent_loop.py
"""

from __future__ import annotations

from wrenn import Sandbox

SNIPPETS = [
    # first try: a bug (a name that does not exist)
    "import csv\nrows = [[i, i * i] for i in range(5)]\nprint(totl)\n",
    # second try: what the model writes after seeing the NameError
    "import csv\n"
    "rows = [[i, i * i] for i in range(5)]\n"
    "with open('/home/user/out/squares.csv', 'w', newline='') as f:\n"
    "    csv.writer(f).writerows(rows)\n"
    "print('total', sum(r[1] for r in rows))\n",
]


def fake_llm(turn: int, feedback: str) -> str:
    """Stands in for a model call: the code to run at this turn."""
    return SNIPPETS[min(turn, len(SNIPPETS) - 1)]


def main() -> None:
    with Sandbox.create(template="base", timeout=300) as sbx:
        sbx.files.make_dir("/home/user/out")
        feedback = ""
        for turn in range(3):
            code = fake_llm(turn, feedback)
            sbx.files.write("/home/user/agent.py", code)
            result = sbx.commands.run("python3 /home/user/agent.py", check=False, timeout=60)
            feedback = result.stdout + result.stderr
            print(f"turn {turn}: exit {result.exit_code}\n{feedback}")
            if result.exit_code == 0:
                break
        for entry in sbx.files.list("/home/user/out"):
            print(f"{entry.name} ({entry.size} bytes):")
            print(sbx.files.read(entry.path))


if __name__ == "__main__":
    main()
