"""The main job: ``chainrule`` prints the seed's sigmoid derivative from the engine."""

import subprocess
import sys

from chainrule.cli import main


def test_default_run_prints_the_chain(capsys):
    # the default command is `explain` of the seed's sigmoid at z = 0.5
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "i = 1/h" in out and "∂g/∂f = e^f" in out
    assert "f'(z) · g'(f) · h'(g) · i'(h)" in out
    assert "0.2350037122" in out  # sigma(0.5)(1 - sigma(0.5))


def test_sigmoid_subcommand_at_several_points(capsys):
    assert main(["sigmoid", "-z", "0", "2"]) == 0
    out = capsys.readouterr().out
    assert "0.2500000000" in out and "0.1049935854" in out


def test_python_dash_m():
    done = subprocess.run(
        [sys.executable, "-m", "chainrule"], capture_output=True, text=True, check=True
    )
    assert "backprop" in done.stdout
