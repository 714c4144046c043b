"""The wheel ships the bank: build it, install it into a fresh virtual environment, check the bank from
a folder outside the repository (so only the installed copy can be found)."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.mark.slow
def test_wheel_installs_and_bank_checks(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), str(REPO)],
                   check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = dist.glob("viva-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "questions/clm-loss.yaml" in names and "rubrics/clm-loss.yaml" in names
    assert "questions/sections.yaml" in names
    assert "tui/app.tcss" in names
    assert "agent/grading/entail_model/weights.safetensors" in names
    # the stacked grader's model and what it reads beside the graders
    assert {"agent/grading/entail_model/stacked.json", "agent/grading/entail_model/rejects.json",
            "agent/grading/entail_model/anchors.npz"} <= set(names)

    env_dir = tmp_path / "venv"
    # reuse the installed dependencies (torch and friends); viva itself comes only from the wheel
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    # this interpreter's packages too (a .pth line adds the folder without running its own .pth files, so an
    # editable install of viva there stays out of sight)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    Path(site, "_parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run([str(py), "-c", "import agent, questions; print(agent.__file__); print(questions.__file__)"],
                           check=True, capture_output=True, text=True, cwd=outside).stdout.split()
    assert all(str(env_dir) in w for w in where), where
    out = subprocess.run([str(env_dir / "bin" / "viva"), "bank", "check"], capture_output=True, text=True,
                         cwd=outside)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 errors" in out.stdout
