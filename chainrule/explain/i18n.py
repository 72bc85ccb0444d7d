"""Labels of the explanation formats, in English and in Korean (the seed's language)."""

from __future__ import annotations

from chainrule.explain.errors import ExplainError

LANGS = ("en", "ko")

_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "explain": "Explain",
        "at": "at",
        "node": "node",
        "definition": "definition",
        "value": "value",
        "local": "local derivative",
        "local_value": "= value",
        "upstream": "upstream",
        "passed": "passed down",
        "input": "input",
        "leaf": "leaf",
        "decomposition": "Decomposition",
        "local_derivatives": "Local derivatives",
        "chain": "The chain rule",
        "table": "Node by node",
        "multivariate": "Where a value feeds several nodes",
        "multivariate_intro": "its gradient is the sum of what each use passes down",
        "paths": "paths",
        "more_paths": "{n} paths in all; their sum, computed by backpropagation",
        "symbolic": "Symbolic (SymPy)",
        "in_names": "in node names",
        "in_inputs": "in the inputs",
        "simplified": "simplified",
        "closed_form": "the known derivative of {what}",
        "sympy_missing": 'symbolic forms need SymPy: pip install "chainrule[explain]"',
        "sympy_skipped": "no symbolic form: {why}",
        "sympy_timeout": "symbolic form skipped: took longer than {seconds} s",
        "simplify_timeout": "simplified forms skipped: took longer than {seconds} s",
        "check_none": (
            "not comparable: non-finite values (inf or nan) around the point, "
            "{checked} of {total} entries checked"
        ),
        "check_some": "{n} entries not comparable: non-finite",
        "check": "Check",
        "check_ok": (
            "backpropagation agrees with central finite differences "
            "(max |difference| {err}, {checked} of {total} entries checked)"
        ),
        "check_bad": (
            "backpropagation DISAGREES with central finite differences "
            "(max |difference| {err}, {checked} of {total} entries checked); "
            "at a kink (relu, abs, max) the two may differ"
        ),
        "symbolic_check": "the symbolic derivative gives {value}",
        "formula_mismatch": (
            "the primitive table's formula for {what} differs from SymPy's derivative"
        ),
        "array_output": (
            "the output is an array of shape {shape}: gradients are those of the sum of "
            "its entries (upstream gradient 1 for every entry)"
        ),
        "arrays_note": (
            "arrays are summarized; a local derivative of an array op is shown as "
            "d sum(node)/d input, its elementwise derivative for elementwise ops"
        ),
        "seeded": (
            "the upstream gradient at the output is d loss / d output from the network's "
            "pass, not 1: the gradients are those of the network's loss"
        ),
        "element_sums": "One output entry, through each matmul or convolution (a sum over k)",
        "non_finite": "some values are not finite (inf or nan): check the domain",
        "hooks": "hooks changed the engine's gradients; the table shows the plain chain rule",
        "gradient": "gradient",
        "graph": "Graph",
        "stepper": "Step through the passes",
        "step_start": (
            "Press next ▶ (or the → key) to walk the forward pass, then the backward pass, "
            "one node at a time."
        ),
        "step_back": "back",
        "step_next": "next",
        "step_reset": "reset",
        "graph_hint": "Click a node of the graph, or a name in the table, to see its chain.",
        "forward": "forward",
        "backward": "backward",
        "arriving": "gradient arriving",
        "passed_to": "passed down to {name}",
        "the_output": "the output: the chain starts with 1",
        "sum_of_users": "the sum of what its {n} users passed down",
        "result": "result",
        "is_gradient": "all paths have arrived: this is ∂{out}/∂{name}",
        "is_output": "{name} is the output: ∂{name}/∂{name} = 1",
        "sum_paths": "the sum over {n} paths",
        "output": "output",
        "shape": "shape",
        "title_html": "chainrule: the chain rule, step by step",
        "product": "product",
        "via": "via",
        "twice": "uses",
        "value_of": "value",
        "seed_note": "d{out}/d{out} = 1 starts the backward pass",
    },
    "ko": {
        "explain": "설명",
        "at": "지점",
        "node": "노드",
        "definition": "정의",
        "value": "값",
        "local": "국소 미분",
        "local_value": "= 값",
        "upstream": "상류 기울기",
        "passed": "아래로 전달",
        "input": "입력",
        "leaf": "잎",
        "decomposition": "잘게 쪼개기",
        "local_derivatives": "각 함수의 미분",
        "chain": "연쇄 법칙 (Chain Rule)",
        "table": "노드별 계산",
        "multivariate": "한 값이 여러 노드로 들어갈 때",
        "multivariate_intro": "기울기는 각 경로가 전달한 값의 합이다",
        "paths": "경로",
        "more_paths": "경로는 모두 {n}개; 그 합은 역전파로 계산",
        "symbolic": "기호 미분 (SymPy)",
        "in_names": "노드 이름으로",
        "in_inputs": "입력으로",
        "simplified": "간단히",
        "closed_form": "{what}의 알려진 미분과 같다",
        "sympy_missing": '기호 미분에는 SymPy가 필요하다: pip install "chainrule[explain]"',
        "sympy_skipped": "기호 형태 없음: {why}",
        "sympy_timeout": "기호 형태 생략: {seconds}초보다 오래 걸렸다",
        "simplify_timeout": "간단한 형태 생략: {seconds}초보다 오래 걸렸다",
        "check_none": (
            "비교할 수 없다: 지점 주변의 값이 유한하지 않다(inf 또는 nan), "
            "{total}개 중 {checked}개 확인"
        ),
        "check_some": "{n}개는 비교할 수 없다: 유한하지 않은 값",
        "check": "검증",
        "check_ok": (
            "역전파가 중앙 차분과 일치한다 (최대 |차이| {err}, {total}개 중 {checked}개 확인)"
        ),
        "check_bad": (
            "역전파가 중앙 차분과 다르다 (최대 |차이| {err}, {total}개 중 {checked}개 확인); "
            "꺾이는 점(relu, abs, max)에서는 다를 수 있다"
        ),
        "symbolic_check": "기호 미분의 값은 {value}",
        "formula_mismatch": "{what}에 대한 원시 연산 표의 공식이 SymPy의 미분과 다르다",
        "array_output": (
            "출력이 모양 {shape}의 배열이다: 기울기는 모든 원소의 합에 대한 것이다 "
            "(모든 원소의 상류 기울기는 1)"
        ),
        "arrays_note": (
            "배열은 요약해서 보인다; 배열 연산의 국소 미분은 d sum(노드)/d 입력으로 보이며, "
            "원소별 연산에서는 원소별 미분이다"
        ),
        "seeded": (
            "출력의 상류 기울기는 1이 아니라 신경망 계산의 d loss / d 출력이다: "
            "기울기는 신경망 손실에 대한 것이다"
        ),
        "element_sums": "출력의 한 원소, 각 행렬곱 또는 합성곱을 거쳐 (k에 대한 합)",
        "non_finite": "유한하지 않은 값(inf 또는 nan)이 있다: 정의역을 확인하라",
        "hooks": "hook이 엔진의 기울기를 바꾸었다; 표는 순수한 연쇄 법칙을 보인다",
        "gradient": "기울기",
        "graph": "그래프",
        "stepper": "순전파와 역전파를 한 단계씩",
        "step_start": "다음 ▶ (또는 → 키)을 누르면 순전파, 이어서 역전파를 노드 하나씩 따라간다.",
        "step_back": "이전",
        "step_next": "다음",
        "step_reset": "처음으로",
        "graph_hint": "그래프의 노드나 표의 이름을 누르면 그 노드의 연쇄가 보인다.",
        "forward": "순전파",
        "backward": "역전파",
        "arriving": "도착한 기울기",
        "passed_to": "{name}(으)로 전달",
        "the_output": "출력: 연쇄는 1에서 시작한다",
        "sum_of_users": "이 값을 쓰는 {n}개 노드가 전달한 값의 합",
        "result": "결과",
        "is_gradient": "모든 경로가 도착했다: 이것이 ∂{out}/∂{name}",
        "is_output": "{name}은(는) 출력이다: ∂{name}/∂{name} = 1",
        "sum_paths": "{n}개 경로의 합",
        "output": "출력",
        "shape": "모양",
        "title_html": "chainrule: 연쇄 법칙을 한 단계씩",
        "product": "곱",
        "via": "경유",
        "twice": "사용",
        "value_of": "값",
        "seed_note": "d{out}/d{out} = 1 에서 역전파가 시작된다",
    },
}


def labels(lang: str) -> dict[str, str]:
    """The labels of ``lang`` ("en" or "ko")."""
    if lang not in _LABELS:
        raise ExplainError(f"unknown language {lang!r}; choose one of {', '.join(LANGS)}")
    return _LABELS[lang]
