"""`wtf-portal brands check`: exit 0 and one line per brand, or exit 2 and one line per problem."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.cli.runner import error_lines, write_config, wtf_portal


def test_shipped_config_passes() -> None:
    result = wtf_portal("brands", "check")
    assert result.returncode == 0 and result.stderr == ""
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["ok", "watchthefall"], ["ok", "fallclips"], ["ok", "dailyfails"],
    ]  # fmt: skip


def test_each_asset_problem_is_one_line_naming_brand_and_file(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("RGBA", (40, 20)).save(tmp_path / "good.png")
    config = write_config(tmp_path, {
        "fine": {"name": "Fine", "logo": {"path": "good.png"}},
        "gone": {"name": "Gone", "logo": {"path": "gone.png"}},
        "notes": {"name": "Notes", "watermark": {"image": "notes.png"}},
    })  # fmt: skip
    result = wtf_portal("brands", "check", "--config", str(config))
    assert result.returncode == 2 and result.stdout == ""
    lines = error_lines(result.stderr)
    assert len(lines) == len(result.stderr.splitlines()) == 2
    assert str(config) in lines[0] and "brand 'gone'" in lines[0] and "gone.png: file not found" in lines[0]
    assert "brand 'notes'" in lines[1] and "notes.png: not a readable image" in lines[1]


def test_invalid_or_empty_config_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"wtf": {"name": "W", "logo": {"path": "l.png", "position": "middle"}}})
    result = wtf_portal("brands", "check", "--config", str(config))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert f"{config}: brand 'wtf': logo.position" in result.stderr

    write_config(tmp_path, {})
    result = wtf_portal("brands", "check", "--config", str(config))
    assert (
        result.returncode == 2 and result.stderr.strip() == f"wtf-portal: {config}: the config has no brands"
    )


def test_config_from_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    result = wtf_portal("brands", "check", env={"WTF_BRAND_CONFIG": str(missing)})
    assert (
        result.returncode == 2 and result.stderr.strip() == f"wtf-portal: {missing}: brand config not found"
    )
