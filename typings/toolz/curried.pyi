from . import accumulate as accumulate
from . import compose as compose
from . import concat as concat
from . import curry as curry
from . import identity as identity
from . import pipe as pipe
from . import reduce as reduce
