"""Analysis of stored calculations: work functions, charge-density differences."""
