"""bash completion (packaging/completions/echo-service.bash, installed as
echo-server and echo-client) run in a real bash with bash-completion, on the
real binaries: every option that --help lists completes from a prefix of
it, a choice completes to its values, and after an option that takes a
value no option is offered."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from echo_harness import CLIENT, SERVER, SLOW  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPLETION = os.path.join(ROOT, "packaging", "completions", "echo-service.bash")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

# Completes the words given as arguments (the last is the one being typed)
# with the function `complete` has for the command, as bash would on TAB;
# prints one candidate a line.
COMPLETE = r"""
source "$BASH_COMPLETION"
source "$COMPLETION"
COMP_WORDS=("$@")
COMP_CWORD=$(( $# - 1 ))
COMP_LINE="$*"
COMP_POINT=${#COMP_LINE}
spec=$(complete -p "$1") || exit 3
function=$(sed -E 's/.* -F ([^ ]+) .*/\1/' <<< "$spec")
"$function" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def help_options(binary):
    """Every option --help lists: (spellings, takes a value)."""
    out = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10 * SLOW)
    options = []
    for line in out.stdout.splitlines():
        if not line.startswith("  -"):
            continue
        spec = re.split(r"\s{3,}", line.strip())[0]
        spec = re.sub(r" \(=[^)]*\)$", "", spec)
        words = [w for w in spec.split() if w not in ("[", "]")]
        names = [w for w in words if re.match(r"--?[A-Za-z0-9]", w)]
        if names:
            options.append((names, len(words) > len(names)))
    return options


class Completion(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.exists(BASH_COMPLETION):
            raise AssertionError("bash-completion missing: scripts/deps test installs it")
        # The programs under their own names on PATH, as installed.
        cls.bin = tempfile.mkdtemp(prefix="echo-completion-")
        for binary in (SERVER, CLIENT):
            os.symlink(binary, os.path.join(cls.bin, os.path.basename(binary)))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.bin)

    def complete(self, *words):
        env = dict(os.environ, PATH=self.bin + os.pathsep + os.environ["PATH"], BASH_COMPLETION=BASH_COMPLETION,
                   COMPLETION=COMPLETION)
        out = subprocess.run(["bash", "--norc", "--noprofile", "-c", COMPLETE, "bash", *words], capture_output=True,
                             text=True, env=env, timeout=30 * SLOW)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.split()

    def test_every_option_of_help_completes(self):
        for program in ("echo-server", "echo-client"):
            options = help_options(os.path.join(self.bin, program))
            self.assertGreater(len(options), 10, program)
            for names, _ in options:
                for name in names:
                    with self.subTest(program=program, option=name):
                        prefix = name[:-1] if name.startswith("--") else name
                        self.assertIn(name, self.complete(program, prefix))

    def test_no_option_is_offered_where_a_value_goes(self):
        for program in ("echo-server", "echo-client"):
            for names, takes_value in help_options(os.path.join(self.bin, program)):
                if takes_value:
                    with self.subTest(program=program, option=names[-1]):
                        self.assertFalse([w for w in self.complete(program, names[-1], "-") if w.startswith("-")])

    def test_choices_complete_to_their_values(self):
        self.assertEqual(self.complete("echo-server", "--log-level", "d"), ["debug"])
        self.assertEqual(sorted(self.complete("echo-client", "--proxy-header", "")), ["v1", "v2"])
        self.assertEqual(self.complete("echo-server", "--po"), ["--port"])
        self.assertEqual(self.complete("echo-server", "--con"), ["--config"])
        self.assertEqual(self.complete("echo-client", "--mess"), ["--message"])


if __name__ == "__main__":
    unittest.main()
