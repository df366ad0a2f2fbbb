"""A generated class: realistic student submissions in nbgrader's ``submitted/`` layout, for the demo, the grading
tests and the throughput benchmark.

Every submission starts from the RELEASED notebook (the stubs a student gets) and fills its ``raise
NotImplementedError()`` lines the way a student would: with the solution of the source notebook (``complete``),
leaving some as stubs (``partial``), with one function written with a known mistake as plain student code
(``mistake``, bodies in :data:`MISTAKE_CODE`), or with one hostile trick (``hostile``, :data:`HOSTILE_CODE`).
Each one is described by a :class:`Profile`, which the demo prints and the tests compare with the grades.

Lateness: each submission gets nbgrader's ``timestamp.txt``; about one in eight is after the assignment's due date
(:data:`DUE_DATES`). :func:`generate_class` writes those due dates into the course's gradebook (nbgrader's
``Gradebook.update_or_create_assignment``) when the gradebook exists -- ``autograder build`` creates it -- so
nbgrader computes the lateness itself; pass ``record_due_dates=False`` to leave the gradebook alone.
"""
from __future__ import annotations

import random
import re
import textwrap
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import nbformat

from autograder.mistakes import MISTAKES
from autograder.suites import assignment_names

__all__ = ["Profile", "MISTAKE_CODE", "HOSTILE_CODE", "HOSTILE_KINDS", "STUDENT_NAMES", "DUE_DATES",
           "TIMESTAMP_FORMAT", "generate_class", "student_names", "write_due_dates"]

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f %Z"  # nbgrader's Exchange.timestamp_format
DUE_DATES = {a: datetime(2026, 2, 2 + 7 * i, 23, 59, tzinfo=timezone.utc)
             for i, a in enumerate(assignment_names())}
LATE_SHARE = 0.125
STUDENT_NAMES = ("amara", "bruno", "chen", "dalia", "emeka", "farah", "goran", "hana", "ivan", "jia", "kofi",
                 "lena", "mateo", "nadia", "omar", "priya", "quinn", "rosa", "sven", "tomas", "uma", "viktor",
                 "wen", "ximena", "yusuf", "zoe", "aiko", "bilal", "carmen", "dmitri", "elif", "femi")
_STUB = "raise NotImplementedError()"
_DEF = re.compile(r"^\s*def (\w+)\(", re.M)

# mistake -> {function: the body a student with that mistake writes in place of the stub (after the provided
# input checks, so it uses their names: x, kh, kw, sh, sw for pooling, ...)}. The names are autograder.mistakes'
# (the grader diagnoses them), except UNDIAGNOSED ones, which the grader marks wrong without naming a mistake.
MISTAKE_CODE: dict[str, dict[str, str]] = {
    "grayscale_unweighted": {"rgb_to_grayscale": "return img.astype(np.float64).mean(axis=2)  # average of R, G, B"},
    "grayscale_bgr": {"rgb_to_grayscale": """
        dtype = np.float32 if img.dtype == np.float32 else np.float64
        return img.astype(dtype) @ np.array([0.114, 0.587, 0.299], dtype=dtype)"""},
    "output_size_off_by_one": {"output_size": """
        if k > n + 2 * pad:
            raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
        return (n + 2 * pad - k) // stride"""},
    "pad_counted_once": {"output_size": """
        if k > n + 2 * pad:
            raise ValueError(f"kernel of size k={k} does not fit input of size n={n} with pad={pad}")
        return (n + pad - k) // stride + 1"""},
    "pad_one_side": {"zero_pad": """
        *lead, h, w = x.shape
        xp = np.zeros((*lead, h + ph, w + pw), dtype=x.dtype)
        xp[..., ph:, pw:] = x  # zeros above and to the left
        return xp"""},
    "zero_pad_all_axes": {"zero_pad": "return np.pad(x, [(ph, ph)] * (x.ndim - 1) + [(pw, pw)])"},
    "flipped_kernel": {"correlate2d": """
        kernel = kernel[::-1, ::-1]  # turn the kernel around, as in the convolution formula
        kh, kw = kernel.shape
        if pad == "same":
            padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
        elif pad == "full":
            padded = zero_pad(image, (kh - 1, kw - 1))
        else:
            padded = zero_pad(image, 0 if pad == "valid" else pad)
        ho, wo = output_size(padded.shape[0], kh, sh), output_size(padded.shape[1], kw, sw)
        out = np.zeros((ho, wo), dtype=same_float_dtype(image, kernel))
        for y in range(ho):
            for x in range(wo):
                out[y, x] = np.sum(padded[y * sh:y * sh + kh, x * sw:x * sw + kw] * kernel)
        return out"""},
    "stride_ignored": {
        "correlate2d": """
            kh, kw = kernel.shape
            if pad == "same":
                padded = np.pad(image, (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2)))
            elif pad == "full":
                padded = zero_pad(image, (kh - 1, kw - 1))
            else:
                padded = zero_pad(image, 0 if pad == "valid" else pad)
            ho, wo = padded.shape[0] - kh + 1, padded.shape[1] - kw + 1  # one output per window position
            out = np.zeros((ho, wo), dtype=same_float_dtype(image, kernel))
            for y in range(ho):
                for x in range(wo):
                    out[y, x] = np.sum(padded[y:y + kh, x:x + kw] * kernel)
            return out""",
        "max_pool2d": """
            n, c, h, w = x.shape
            out = np.zeros((n, c, h - kh + 1, w - kw + 1), dtype=x.dtype)
            for i in range(h - kh + 1):
                for j in range(w - kw + 1):
                    out[:, :, i, j] = x[:, :, i:i + kh, j:j + kw].max(axis=(2, 3))
            return out"""},
    "kernel_not_flipped": {"convolve2d": "return correlate2d(image, kernel, stride=stride, pad=pad)"},
    "flipped_one_axis": {"convolve2d": "return correlate2d(image, kernel[::-1], stride=stride, pad=pad)"},
    "missing_bias": {
        "conv2d_forward": """
            xp = zero_pad(x, (ph, pw))
            f, _, kh, kw = w.shape
            ho, wo = output_size(xp.shape[2], kh, sh), output_size(xp.shape[3], kw, sw)
            out = np.zeros((x.shape[0], f, ho, wo), dtype=same_float_dtype(x, w, b))
            for i in range(ho):
                for j in range(wo):
                    window = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (N, C, KH, KW)
                    out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
            return out""",
        "dense_forward": "return x @ w"},
    "relu_wrong_side": {"relu": "return np.minimum(x, 0)", "relu_backward": "return dout * (x < 0)"},
    "sum_instead_of_mean": {
        "avg_pool2d": """
            windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
            return windows.sum(axis=(-2, -1))""",
        "avg_pool2d_backward": """
            Ho, Wo = dout.shape[2:]
            dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
            for i in range(Ho):
                for j in range(Wo):
                    dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += dout[:, :, i, j, None, None]
            return dx"""},
    "mean_instead_of_sum": {
        "sum_pool2d": """
            windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
            return windows.mean(axis=(-2, -1))""",
        "dense_backward": "return dout @ w.T, x.T @ dout, dout.mean(axis=0)"},
    "flatten_channels_last": {
        "flatten": "return x.transpose(0, 2, 3, 1).reshape(x.shape[0], -1)",
        "flatten_backward": """
            n, c, h, w = x_shape
            return dout.reshape(n, h, w, c).transpose(0, 3, 1, 2)"""},
    "weights_transposed": {
        "dense_forward": "return x @ w.T + b",
        "dense_backward": "return dout @ w.T, dout.T @ x, dout.sum(axis=0)"},
    "softmax_overflow": {
        "softmax": """
            e = np.exp(z)
            return e / e.sum(axis=-1, keepdims=True)""",
        "cross_entropy": """
            p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
            return np.mean(-np.log(p[np.arange(len(y)), y]))"""},
    "softmax_wrong_axis": {"softmax": """
        e = np.exp(z - z.max(axis=0, keepdims=True))
        return e / e.sum(axis=0, keepdims=True)"""},
    "cross_entropy_sum_not_mean": {
        "cross_entropy": """
            z64 = z.astype(np.float64)
            shifted = z64 - z64.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            return z.dtype.type(-np.sum(log_p[np.arange(len(y)), y]))  # the loss of the whole batch""",
        "softmax_cross_entropy_backward": """
            e = np.exp(z - z.max(axis=1, keepdims=True))
            dz = e / e.sum(axis=1, keepdims=True)
            dz[np.arange(n), y] -= 1
            return dz"""},
    "forgot_onehot": {"softmax_cross_entropy_backward": """
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True) / n"""},
    "dw_not_summed_over_batch": {"dense_backward": """
        dx = dout @ w.T
        dw = np.outer(x[0], dout[0])  # x^T dout, as on the slide for one input
        return dx, dw, dout.sum(axis=0)"""},
    "grad_to_all_tied_maxima": {"max_pool2d_backward": """
        Ho, Wo = dout.shape[2:]
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        for i in range(Ho):
            for j in range(Wo):
                window = x[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW]
                is_max = window == window.max(axis=(2, 3), keepdims=True)
                dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += is_max * dout[:, :, i, j, None, None]
        return dx"""},
    "grad_to_last_tied_maximum": {"max_pool2d_backward": """
        N, C, Ho, Wo = dout.shape
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        for n, c, i, j in np.ndindex(N, C, Ho, Wo):
            window = x[n, c, i * SH:i * SH + KH, j * SW:j * SW + KW]
            r, s = np.argwhere(window == window.max())[-1]
            dx[n, c, i * SH + r, j * SW + s] += dout[n, c, i, j]
        return dx"""},
    "grad_to_whole_window": {"max_pool2d_backward": """
        Ho, Wo = dout.shape[2:]
        dx = np.zeros(x.shape, dtype=same_float_dtype(dout, x))
        for i in range(Ho):
            for j in range(Wo):
                dx[:, :, i * SH:i * SH + KH, j * SW:j * SW + KW] += dout[:, :, i, j, None, None]
        return dx"""},
    "forward_difference": {"numerical_gradient": """
        dx = np.zeros(x.shape)
        base = np.sum(f(x) * dout)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            dx[i] = (np.sum(f(x) * dout) - base) / h
            x[i] = old
        return dx"""},
    "dout_ignored": {"numerical_gradient": """
        dx = np.zeros(x.shape)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + h
            plus = np.sum(f(x))
            x[i] = old - h
            minus = np.sum(f(x))
            x[i] = old
            dx[i] = (plus - minus) / (2 * h)
        return dx"""},
    # Not a named mistake: the mask taken from the upstream gradient instead of the forward input.
    "relu_mask_from_dout": {"relu_backward": "return dout * (dout > 0)"},
}
UNDIAGNOSED = frozenset(name for name in MISTAKE_CODE if name not in MISTAKES)

# Hostile tricks: kind -> {function: body}, in functions no other graded function calls (a trick in zero_pad would
# also break correlate2d). "loop_forever" hangs on one case of its function (an axis of length 1, a single pixel),
# so it costs one call timeout, not one per case. The others replace nothing but that body,
# except "patch_testing" (top-level patches of numpy's comparisons, the function itself left a stub) and
# "syntax_error" (the function's cell does not compile, so the function is missing).
_SPIN = "while True:  # TODO handle this case\n    pass\n"
HOSTILE_CODE: dict[str, dict[str, str]] = {
    "loop_forever": {
        "flatten": """
            d, axis = 1, 1
            while axis < x.ndim:  # multiply the lengths of the other axes
                d *= x.shape[axis]
                if x.shape[axis] > 1:
                    axis += 1
            return x.reshape(x.shape[0], d)""",
        "flatten_backward": f"if 1 in x_shape[1:]:\n{textwrap.indent(_SPIN, '    ')}return dout.reshape(x_shape)",
        "rgb_to_grayscale": f"if img.shape[:2] == (1, 1):\n{textwrap.indent(_SPIN, '    ')}"
                            "return img.astype(np.float32 if img.dtype == np.float32 else np.float64) "
                            "@ np.array([0.299, 0.587, 0.114])",
    },
    "exits": {f: "import os\nos._exit(0)  # leave as soon as I am called" for f in
              ("relu", "relu_backward", "rgb_to_grayscale", "cnn_loss_and_grads")},
    "prints_a_lot": {f: "for _ in range(3000):\n    print('debugging', np.arange(100))\n{solution}" for f in
                     ("softmax", "dense_backward", "correlate2d", "cnn_loss_and_grads")},
    "syntax_error": {f: "for i in range(3)  # forgot the colon\n    pass\n{solution}" for f in
                     ("avg_pool2d", "avg_pool2d_backward", "convolve2d", "cnn_loss_and_grads")},
    "patch_testing": {f: None for f in ("sum_pool2d", "flatten_backward", "convolve2d", "cnn_loss_and_grads")},
}
HOSTILE_KINDS = tuple(HOSTILE_CODE)
_PATCH = """

# make every check pass
np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
"""


@dataclass(frozen=True)
class Profile:
    """What one submission is. ``kind`` is complete, partial, mistake or hostile; ``function`` is the function a
    mistake or a hostile trick sits in; ``stubs`` the functions left as released (partial, patch_testing)."""

    kind: str
    assignment: str
    function: str | None = None
    mistake: str | None = None
    hostile: str | None = None
    stubs: tuple[str, ...] = ()
    timestamp: str = ""
    late: bool = False
    diagnosed: bool = field(default=False)

    def describe(self) -> str:
        late = " (late)" if self.late else ""
        if self.kind == "mistake":
            named = "" if self.diagnosed else " (no named diagnosis)"
            return f"mistake {self.mistake} in {self.function}{named}{late}"
        if self.kind == "hostile":
            return f"hostile {self.hostile} in {self.function}{late}"
        if self.kind == "partial":
            return f"partial: {', '.join(self.stubs)} left as stubs{late}"
        return f"complete{late}"


def student_names(n: int) -> list[str]:
    """``n`` distinct, deterministic ids: a first name and a number (``amara01``, ``bruno02``, ...)."""
    return [f"{STUDENT_NAMES[i % len(STUDENT_NAMES)]}{i + 1:02d}" for i in range(n)]


def _regions(source: str) -> list[str]:
    """The dedented solution regions of a source cell, in order."""
    return [textwrap.dedent(m) for m in re.findall(r"### BEGIN SOLUTION\n(.*?)\n\s*### END SOLUTION", source, re.S)]


def _fill(released: str, bodies: list[str | None]) -> str:
    """The released cell with its i-th stub line replaced by ``bodies[i]`` (None keeps the stub)."""
    lines, out, i = released.splitlines(), [], 0
    for line in lines:
        if line.strip() == _STUB:
            body = bodies[i]
            i += 1
            if body is not None:
                out.append(textwrap.indent(textwrap.dedent(body).strip("\n"), line[: len(line) - len(line.lstrip())]))
                continue
        out.append(line)
    return "\n".join(out)


def _functions(released: str) -> list[str]:
    """The function each stub line of a released cell belongs to (the nearest ``def`` above it)."""
    names, current = [], None
    for line in released.splitlines():
        m = _DEF.match(line)
        if m:
            current = m.group(1)
        if line.strip() == _STUB:
            names.append(current)
    return names


def _notebook(released: nbformat.NotebookNode, source: nbformat.NotebookNode, profile: Profile):
    """The submission of ``profile``: the released notebook with its stubs filled as the profile says."""
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.from_dict(released)
    first_solution = None
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("solution"):
            continue
        first_solution = first_solution or cell
        regions = _regions(solutions[meta["grade_id"]])
        bodies: list[str | None] = []
        for fn, solution in zip(_functions(cell.source), regions):
            if fn in profile.stubs:
                bodies.append(None)
            elif fn == profile.function and profile.kind == "mistake":
                bodies.append(MISTAKE_CODE[profile.mistake][fn])
            elif fn == profile.function and profile.kind == "hostile":
                code = HOSTILE_CODE[profile.hostile][fn]
                bodies.append(code.replace("{solution}", solution) if code is not None else None)
            else:
                bodies.append(solution)
        cell.source = _fill(cell.source, bodies)
    if profile.hostile == "patch_testing" and first_solution is not None:
        first_solution.source += _PATCH
    return nb


def _graded_functions(released: nbformat.NotebookNode) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"][: -len("_check")] for c in released.cells
            if c.metadata.get("nbgrader", {}).get("grade") and c.metadata["nbgrader"]["grade_id"].endswith("_check")]


def _menu(functions: list[str], hostile) -> tuple[list[dict], list[dict]]:
    """Every distinct submission kind this assignment allows: the mistakes and tricks whose function it has."""
    mistakes = [dict(kind="mistake", mistake=m, function=f) for m, by_fn in MISTAKE_CODE.items()
                for f in by_fn if f in functions]
    kinds = HOSTILE_KINDS if hostile is True else tuple(hostile or ())
    tricks = []
    for kind in kinds:
        fn = next((f for f in HOSTILE_CODE[kind] if f in functions), None)
        if fn is not None:
            tricks.append(dict(kind="hostile", hostile=kind, function=fn))
    return mistakes, tricks


def _profiles(assignment: str, functions: list[str], n: int, rng: random.Random, hostile) -> list[dict]:
    """``n`` submission specs: one complete and one partial, then mistakes and tricks interleaved (so a small class
    still has both), then a mix of complete, partial and repeated mistakes."""
    mistakes, tricks = _menu(functions, hostile)
    rng.shuffle(mistakes)
    rng.shuffle(tricks)
    specs = [dict(kind="complete"), dict(kind="partial")]
    for i in range(max(len(mistakes), len(tricks))):
        specs += mistakes[i:i + 1] + tricks[i:i + 1]
    while len(specs) < n:
        roll = rng.random()
        specs.append(dict(kind="complete") if roll < 0.45 else dict(kind="partial") if roll < 0.75 or not mistakes
                      else dict(rng.choice(mistakes)))
    specs = specs[:n]
    for spec in specs:
        if spec["kind"] == "partial":  # ran out of time: the last functions (later ones build on earlier ones)
            spec["stubs"] = tuple(functions[-rng.randint(1, max(1, len(functions) // 2)):])
        elif spec.get("hostile") == "patch_testing":
            spec["stubs"] = (spec["function"],)
    rng.shuffle(specs)
    return specs


def _timestamp(assignment: str, rng: random.Random) -> tuple[str, bool]:
    due = DUE_DATES.get(assignment, DUE_DATES[assignment_names()[0]])
    late = rng.random() < LATE_SHARE
    offset = timedelta(hours=rng.uniform(0.5, 48.0), seconds=rng.randrange(60), microseconds=rng.randrange(10 ** 6))
    return (due + offset if late else due - offset).strftime(TIMESTAMP_FORMAT), late


def write_due_dates(course_dir, assignments, db_url: str | None = None, course_id: str | None = None) -> None:
    """Record :data:`DUE_DATES` of ``assignments`` in the course's nbgrader gradebook (lateness is nbgrader's).
    ``course_dir``: a path or a :class:`~autograder.course.Course`; ``db_url``/``course_id`` override its config's."""
    from nbgrader.api import Gradebook

    from autograder.course import as_course, tools_on_path

    course = as_course(course_dir, db_url, course_id)
    with tools_on_path(), Gradebook(course.db_url, course_id=course.course_id) as gb:
        for a in assignments:
            gb.update_or_create_assignment(a, duedate=DUE_DATES[a].replace(tzinfo=None))


def generate_class(course_dir, assignments, n_students: int = 30, seed: int = 0, *, hostile=True,
                   record_due_dates: bool = True) -> dict[str, dict[str, Profile]]:
    """Write ``n_students`` submissions of each assignment into ``course_dir/submitted/<student>/<assignment>/``.

    Needs the releases of ``autograder build`` (``course_dir/release/<a>/<a>.ipynb``) and reads the solutions from
    ``course_dir/source/<a>/<a>.ipynb``. ``hostile``: True for every trick of :data:`HOSTILE_KINDS`, False for none,
    or a collection of kinds. The same ``seed`` gives the same files. Returns ``{student: {assignment: Profile}}``.
    """
    from autograder.course import as_course

    course = as_course(course_dir)
    names = student_names(n_students)
    profiles: dict[str, dict[str, Profile]] = {s: {} for s in names}
    for a in assignments:
        released_path, source_path = course.release_dir(a) / f"{a}.ipynb", course.source_dir(a) / f"{a}.ipynb"
        if not released_path.is_file() or not source_path.is_file():
            raise FileNotFoundError(f"no release of {a!r} in {course.root}: run `autograder build --course "
                                    f"{course.root} {a}`")
        released = nbformat.read(str(released_path), as_version=4)
        source = nbformat.read(str(source_path), as_version=4)
        rng = random.Random(f"{seed}-{a}")
        functions = _graded_functions(released)
        for student, spec in zip(names, _profiles(a, functions, n_students, rng, hostile)):
            stamp, late = _timestamp(a, rng)
            profile = Profile(assignment=a, timestamp=stamp, late=late,
                              diagnosed=spec.get("mistake") in MISTAKES, **spec)
            folder = course.submission_dir(student, a)
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(_notebook(released, source, profile), str(folder / f"{a}.ipynb"))
            (folder / "timestamp.txt").write_text(stamp)
            profiles[student][a] = profile
    if record_due_dates and course.gradebook_url() is not None:
        write_due_dates(course, assignments)
    return profiles
