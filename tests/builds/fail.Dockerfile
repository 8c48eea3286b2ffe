FROM base
RUN true
RUN echo boom >&2; exit 3
RUN echo never
