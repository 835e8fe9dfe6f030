import re

import pytest

from realtime.groups import member_group, stream_group

VALID = re.compile(r"^[a-zA-Z0-9_.\-]{1,99}$")


@pytest.mark.parametrize("builder", [stream_group, member_group])
def test_group_names_are_valid_channel_layer_names(builder):
    for value in (0, 1, 2**63 - 1):
        assert VALID.match(builder(value))


@pytest.mark.parametrize("bad", ["12", "room 1", -1, True, 1.5, None, "../x"])
def test_group_names_refuse_anything_but_ids(bad):
    with pytest.raises(ValueError):
        stream_group(bad)
