FROM base
COPY nope.txt /opt/
