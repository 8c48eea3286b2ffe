FROM base
RUN sleep 600
