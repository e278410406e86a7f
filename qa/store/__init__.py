"""Collections: the seam every caller goes through (`backend`), two backends behind it
(`faiss`, `milvus`, packages of the same shape), and what both share (`fusion`,
`manifest`, `transfer`)."""
