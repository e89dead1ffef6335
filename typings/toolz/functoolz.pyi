from collections.abc import Callable
from typing import Generic, ParamSpec, TypeVar, overload

_P = ParamSpec("_P")
_A = TypeVar("_A")
_B = TypeVar("_B")
_C = TypeVar("_C")
_D = TypeVar("_D")
_E = TypeVar("_E")
_F = TypeVar("_F")
_G = TypeVar("_G")
_H = TypeVar("_H")
_R = TypeVar("_R")
_T = TypeVar("_T")

def identity(x: _T) -> _T: ...

# pipe(data, f, g, h) == h(g(f(data)))
@overload
def pipe(data: _A) -> _A: ...
@overload
def pipe(data: _A, f1: Callable[[_A], _B]) -> _B: ...
@overload
def pipe(data: _A, f1: Callable[[_A], _B], f2: Callable[[_B], _C]) -> _C: ...
@overload
def pipe(
    data: _A, f1: Callable[[_A], _B], f2: Callable[[_B], _C], f3: Callable[[_C], _D]
) -> _D: ...
@overload
def pipe(
    data: _A,
    f1: Callable[[_A], _B],
    f2: Callable[[_B], _C],
    f3: Callable[[_C], _D],
    f4: Callable[[_D], _E],
) -> _E: ...
@overload
def pipe(
    data: _A,
    f1: Callable[[_A], _B],
    f2: Callable[[_B], _C],
    f3: Callable[[_C], _D],
    f4: Callable[[_D], _E],
    f5: Callable[[_E], _F],
) -> _F: ...
@overload
def pipe(
    data: _A,
    f1: Callable[[_A], _B],
    f2: Callable[[_B], _C],
    f3: Callable[[_C], _D],
    f4: Callable[[_D], _E],
    f5: Callable[[_E], _F],
    f6: Callable[[_F], _G],
) -> _G: ...
@overload
def pipe(
    data: _A,
    f1: Callable[[_A], _B],
    f2: Callable[[_B], _C],
    f3: Callable[[_C], _D],
    f4: Callable[[_D], _E],
    f5: Callable[[_E], _F],
    f6: Callable[[_F], _G],
    f7: Callable[[_G], _H],
) -> _H: ...

def thread_first(val: _A, *forms: Callable[[_A], _A]) -> _A: ...

# compose(h, g, f)(x) == h(g(f(x))): the last function takes the arguments.
@overload
def compose(f1: Callable[_P, _R]) -> Callable[_P, _R]: ...
@overload
def compose(f2: Callable[[_A], _R], f1: Callable[_P, _A]) -> Callable[_P, _R]: ...
@overload
def compose(
    f3: Callable[[_B], _R], f2: Callable[[_A], _B], f1: Callable[_P, _A]
) -> Callable[_P, _R]: ...
@overload
def compose(
    f4: Callable[[_C], _R],
    f3: Callable[[_B], _C],
    f2: Callable[[_A], _B],
    f1: Callable[_P, _A],
) -> Callable[_P, _R]: ...
@overload
def compose(
    f5: Callable[[_D], _R],
    f4: Callable[[_C], _D],
    f3: Callable[[_B], _C],
    f2: Callable[[_A], _B],
    f1: Callable[_P, _A],
) -> Callable[_P, _R]: ...
@overload
def compose(
    f6: Callable[[_E], _R],
    f5: Callable[[_D], _E],
    f4: Callable[[_C], _D],
    f3: Callable[[_B], _C],
    f2: Callable[[_A], _B],
    f1: Callable[_P, _A],
) -> Callable[_P, _R]: ...

# curry: partial application by positional arguments, typed for up to three.
class Curried1(Generic[_A, _R]):
    def __call__(self, a: _A, /) -> _R: ...

class Curried2(Generic[_A, _B, _R]):
    @overload
    def __call__(self, a: _A, /) -> Callable[[_B], _R]: ...
    @overload
    def __call__(self, a: _A, b: _B, /) -> _R: ...

class Curried3(Generic[_A, _B, _C, _R]):
    @overload
    def __call__(self, a: _A, /) -> Curried2[_B, _C, _R]: ...
    @overload
    def __call__(self, a: _A, b: _B, /) -> Callable[[_C], _R]: ...
    @overload
    def __call__(self, a: _A, b: _B, c: _C, /) -> _R: ...

@overload
def curry(func: Callable[[_A], _R], /) -> Curried1[_A, _R]: ...
@overload
def curry(func: Callable[[_A, _B], _R], /) -> Curried2[_A, _B, _R]: ...
@overload
def curry(func: Callable[[_A, _B, _C], _R], /) -> Curried3[_A, _B, _C, _R]: ...
@overload
def curry(func: Callable[_P, _R], /) -> Callable[_P, _R]: ...
