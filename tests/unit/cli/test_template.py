"""The --format engine against Go's text/template: every case of
template_cases (outputs Go printed for the same template on the same data),
the table/json forms of the list commands, and -- where a Go toolchain is
installed -- the oracle itself rerun on the cases."""
import json
import os
import re
import shutil
import subprocess

import pytest

from fastctr.cli import gofmt, gotemplate, gofuncs, template
from fastctr.errors import ConfigError
from template_cases import CASES, DATA


def run(text, data=DATA, missing="error"):
    try:
        return {"out": gotemplate.Template(text, gofuncs.FUNCS).execute(data, missing)}
    except gotemplate.TemplateError as e:
        return {"err": str(e)}


@pytest.mark.parametrize("text, expected", CASES, ids=[c[0][:60] for c in CASES])
def test_as_go_prints_it(text, expected):
    assert run(text) == expected


def test_missing_keys_print_no_value_without_missingkey_error():
    assert run("{{.Nope}}|{{.State.Nope}}", missing="zero") == {"out": "<no value>|<no value>"}


def test_render_is_inspects_way():
    assert template.render("{{.Name}}\\t{{.Id}}", DATA) == "/web\\t4f1e2a"  # inspect keeps \t as written
    with pytest.raises(ConfigError) as e:
        template.render("{{.Nope}}", DATA)
    assert str(e.value) == 'template parsing error: template: :1:2: executing "" at <.Nope>: ' \
                           'map has no entry for key "Nope"'
    with pytest.raises(ConfigError) as e:
        template.render("{{frob .Id}}", DATA)
    assert str(e.value) == 'template parsing error: template: :1: function "frob" not defined'


def test_go_features_newer_than_the_oracle():
    # Go 1.22 ranges over an integer; Go 1.23 has {{else with}} (docker 28 is built with 1.24)
    assert run("{{range 3}}{{.}}{{end}}") == {"out": "012"}
    assert run("{{with .Nil}}a{{else with .Name}}{{.}}{{else}}c{{end}}") == {"out": "/web"}


def test_table_aligns_as_gos_tabwriter():
    rows = [{"ID": "abc", "Names": "n", "Status": "Up"}, {"ID": "abcdefabcdef", "Names": "nn", "Status": "Up 2"}]
    assert template.table("table {{.ID}}\\t{{.Names}}\\t{{.Status}}", rows) == [
        "CONTAINER ID   NAMES     STATUS",
        "abc            n         Up",
        "abcdefabcdef   nn        Up 2"]
    # the header row shows the column's name whatever function is applied to it
    assert template.table("table {{.Names | upper}}\\t{{json .ID}}", rows)[0] == "NAMES     CONTAINER ID"
    assert template.table("{{.ID}}:{{.Names}}", rows) == ["abc:n", "abcdefabcdef:nn"]
    assert template.table("json", [{"b": 1, "a": "x"}]) == ['{"a":"x","b":1}']  # a context's JSON: a map
    assert template.table("table", rows, default="table {{.ID}}") == ["CONTAINER ID", "abc", "abcdefabcdef"]


def test_tabwriter_blocks():
    # a column is aligned over the consecutive lines that have it; the text after the last tab is no cell
    assert template.tabwriter(["a\tb\tc", "aaaaaaaaaaaa\tb", "x"]) == [
        "a              b         c", "aaaaaaaaaaaa   b", "x"]


@pytest.mark.parametrize("f, text", [(0.5, "0.5"), (2.0, "2"), (1e-7, "1e-07"), (123456789.0, "1.23456789e+08"),
                                     (100000.0, "100000"), (1000000.0, "1e+06"), (-0.25, "-0.25"), (1e21, "1e+21"),
                                     (0.0001, "0.0001"), (0.00001, "1e-05")])
def test_floats_as_go_prints_them(f, text):
    assert gofmt.go_float(f) == text


def test_printf_verbs():
    assert gofmt.sprintf("%-6s|%6s|%q|%v|%d", ["ab", "cd", "x\ty", [1, "a"], 7]) == 'ab    |    cd|"x\\ty"|[1 a]|7'
    assert gofmt.sprintf("%s %d", ["a"]) == "a %!d(MISSING)"
    assert gofmt.sprintf("%d", [1, "x"]) == "1%!(EXTRA string=x)"
    assert gofmt.sprintf("%5.1f|%x|%X|%o|%b|%t|%c|%%", [3.14159, 255, 255, 8, 5, True, 65]) == "  3.1|ff|FF|10|101|true|A|%"


def test_json_writes_utf8_as_go_does():
    assert gofmt.to_json({"a": "héllo \u2028 \U0001f600 <&>"}) == '{"a":"héllo \\u2028 \U0001f600 <&>"}'
    assert gofmt.to_json("back\\u00e9slash") == '"back\\\\u00e9slash"'


@pytest.mark.skipif(not shutil.which("go"), reason="no Go toolchain to run the oracle")
def test_the_oracle_still_agrees(tmp_path):
    src = os.path.join(os.path.dirname(__file__), "goref")
    env = dict(os.environ, GOCACHE=str(tmp_path / "cache"), GOPATH=str(tmp_path / "gopath"), GOPROXY="off",
               GOFLAGS="-mod=mod")
    binary = str(tmp_path / "goref")
    subprocess.run(["go", "build", "-o", binary, "."], cwd=src, env=env, check=True, capture_output=True, timeout=300)
    cases = [c[0] for c in CASES]
    p = subprocess.run([binary], input=json.dumps({"data": DATA, "templates": cases, "missing": "error"}),
                       capture_output=True, text=True, check=True, timeout=60)
    assert [json.loads(line) for line in p.stdout.splitlines()] == [c[1] for c in CASES]


def test_a_list_row_needs_only_the_fields_its_template_reads():
    assert template.fields("table {{.ID}}\\t{{.Names}}") == {"ID", "Names"}
    assert template.fields("{{if .A}}{{.B | printf \"%s\"}}{{else}}{{.C.D}}{{end}}") == {"A", "B", "C"}
    for fmt in ("json", "{{json .}}", "{{range .Labels}}{{.}}{{end}}", "{{with .A}}{{.B}}{{end}}", "{{$.ID}}",
                "{{$x := .ID}}{{$x}}"):
        assert template.fields(fmt) is None, fmt


@pytest.mark.parametrize("text", ["{{.Id}}\t{{.Name}}|", "a{{.State}}b{{.Nope}}", "{{.Args}} {{.Config}} {{.Nil}}"])
def test_a_template_of_fields_only_prints_what_the_general_walk_prints(text):
    flat = gotemplate.Template(text, gofuncs.FUNCS)
    assert flat._flat is not None
    walked = gotemplate.Template(text, gofuncs.FUNCS)
    walked._flat = None
    data = dict(DATA, Nil=None)
    for missing in ("error", "zero", "*formatter.ContainerContext"):
        try:
            expected = walked.execute(data, missing)
        except gotemplate.TemplateError as e:
            with pytest.raises(gotemplate.TemplateError, match=re.escape(str(e))):
                flat.execute(data, missing)
            continue
        assert flat.execute(data, missing) == expected
