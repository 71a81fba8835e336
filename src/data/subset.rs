use super::{DataError, Dataset};

/// A class-balanced subset of `n` images, interleaved by class (labels 0, 1, ..., 0, 1, ...)
/// so that every prefix is balanced too. Takes each class's images in file order; when `n`
/// is not a multiple of the class count, the lowest classes get one image more.
pub fn balanced_subset(ds: &Dataset, n: usize) -> Result<Dataset, DataError> {
    let k = ds.num_classes;
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); k];
    for (i, &l) in ds.labels.iter().enumerate() {
        by_class[usize::from(l)].push(i);
    }
    let per_class = n.div_ceil(k);
    for (class, members) in by_class.iter().enumerate() {
        let wanted = n / k + usize::from(class < n % k);
        if members.len() < wanted {
            return Err(DataError::Invalid(format!(
                "a balanced subset of {n} images needs {wanted} of class {class}, \
                 but the source has only {}",
                members.len()
            )));
        }
    }
    let order = (0..per_class)
        .flat_map(|round| by_class.iter().filter_map(move |m| m.get(round).copied()))
        .take(n);
    let mut images = Vec::with_capacity(n * ds.shape.len());
    let mut labels = Vec::with_capacity(n);
    for i in order {
        images.extend_from_slice(ds.image(i));
        labels.push(ds.labels[i]);
    }
    Dataset::new(ds.shape, k, images, labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ImageShape;

    fn toy() -> Dataset {
        // 9 one-pixel images whose pixel is their index; labels of 3 classes, unevenly spread.
        let labels = vec![2, 0, 0, 1, 2, 0, 2, 1, 0];
        Dataset::new(ImageShape::new(1, 1, 1), 3, (0..9).collect(), labels).unwrap()
    }

    #[test]
    fn interleaves_classes_in_file_order() {
        let s = balanced_subset(&toy(), 6).unwrap();
        assert_eq!(s.labels, vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(s.images, vec![1, 3, 0, 2, 7, 4]);
    }

    #[test]
    fn uneven_count_favours_low_classes() {
        let s = balanced_subset(&toy(), 5).unwrap();
        assert_eq!(s.labels, vec![0, 1, 2, 0, 1]);
        assert_eq!(s.class_counts(), vec![2, 2, 1]);
    }

    #[test]
    fn too_few_images_of_a_class_is_an_error() {
        let err = balanced_subset(&toy(), 8).unwrap_err();
        assert!(err.to_string().contains("class 1"), "{err}");
    }
}
